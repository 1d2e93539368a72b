"""EventBridge pieces moto lacks: a target's input (InputPath, Input, InputTransformer) and an event log.

moto matches event patterns itself; this module only decides what a matched target receives, the way
EventBridge does, and keeps every event put on a bus so tests and `serve` users can read the lifecycle events.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

# moto adds this for its own use; EventBridge does not deliver it.
_MOTO_ONLY_FIELDS: Final = ("ingestion-time",)
_PATH_STEP = re.compile(r"""\.([^.\[\]*?()@$\s]+)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]""")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


class InputPathError(ValueError):
    """A JSONPath EventBridge would not accept (only simple `$.a.b[0]` paths are)."""


_MISSING: Final = object()


def iso_time(value: Any) -> str:
    """EventBridge's `time`: ISO 8601 in UTC, whole seconds. moto keeps epoch seconds internally."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        moment = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        return value
    else:
        moment = datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def delivered_event(moto_event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target: moto's own fields dropped, `time` as ISO 8601."""
    event = {key: copy.deepcopy(value) for key, value in moto_event.items() if key not in _MOTO_ONLY_FIELDS}
    if "time" in event:
        event["time"] = iso_time(event["time"])
    return event


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (`$`, `$.detail`, `$.detail.items[0]`, `$['detail-type']`).

    Returns the module's _MISSING sentinel (test with `is_missing`) when nothing is there.
    """
    value = document
    for step in _path_steps(path):
        if isinstance(step, str):
            if not isinstance(value, dict) or step not in value:
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, list) or step >= len(value):
                return _MISSING
            value = value[step]
    return value


def _path_steps(path: str) -> list[str | int]:
    path = path.strip()
    if not path.startswith("$"):
        raise InputPathError(f"{path!r}: a JSONPath starts with $")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise InputPathError(f"{path!r}: only .name, [index] and ['name'] steps are supported")
        position = step.end()
        name, index, quoted, double_quoted = step.groups()
        key = name if name is not None else quoted if quoted is not None else double_quoted
        steps.append(key if key is not None else int(index))
    return steps


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _transform(
    transformer: Mapping[str, Any], event: Mapping[str, Any], rule_name: str, rule_arn: str
) -> str:
    """InputTransformer: each `<name>` of InputTemplate becomes the value its InputPathsMap path selects.

    As in EventBridge, a placeholder inside a quoted string takes a string's text (`"id <id>"`), anywhere else
    the value's JSON (`{"id": <id>}` quotes a string). A path that selects nothing gives an empty text inside
    quotes and `null` elsewhere.
    """
    values: dict[str, Any] = {}
    for name, path in dict(transformer.get("InputPathsMap") or {}).items():
        values[str(name)] = json_path(event, str(path))
    predefined: dict[str, Any] = {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_name,
        "aws.events.event.ingestion-time": event.get("time", iso_time(time.time())),
        "aws.events.event": dict(event),
        "aws.events.event.json": dict(event),
    }
    template = str(transformer.get("InputTemplate") or "")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            value = values[name]
        elif name in predefined:
            value = predefined[name]
        else:
            return match.group(0)
        inside_quotes = _inside_string(template, match.start())
        if is_missing(value):
            return "" if inside_quotes else "null"
        if inside_quotes:
            # Inside a JSON string: a string as its text, anything else as its JSON text; escaped either way.
            return json.dumps(value if isinstance(value, str) else json.dumps(value))[1:-1]
        return json.dumps(value)

    return _PLACEHOLDER.sub(replace, template)


def _inside_string(text: str, position: int) -> bool:
    """Whether `position` of a JSON-ish template lies inside a double-quoted string."""
    inside = False
    escaped = False
    for char in text[:position]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = inside
        elif char == '"':
            inside = not inside
    return inside


def target_input(
    target: Mapping[str, Any], moto_event: Mapping[str, Any], rule_name: str, rule_arn: str
) -> str:
    """What EventBridge sends the target: the whole event, `Input`, `InputPath` or `InputTransformer`.

    Raises InputPathError for a path EventBridge would reject, LookupError when InputPath selects nothing.
    """
    event = delivered_event(moto_event)
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        value = json_path(event, str(target["InputPath"]))
        if is_missing(value):
            raise LookupError(f"InputPath {target['InputPath']!r} selects nothing in the event")
        return json.dumps(value)
    if "InputTransformer" in target:
        return _transform(target["InputTransformer"], event, rule_name, rule_arn)
    return json.dumps(event)


class EventLog:
    """Every event put on any bus while a stack runs, in order; thread-safe."""

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def append(self, event: dict[str, Any]) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._events.clear()

    def select(
        self, bus_name: str | None = None, detail_type: str | None = None, source: str | None = None
    ) -> list[dict[str, Any]]:
        with self._changed:
            events = list(self._events)
        return [
            copy.deepcopy(event)
            for event in events
            if (bus_name is None or event["bus"] == bus_name)
            and (detail_type is None or event["detail-type"] == detail_type)
            and (source is None or event["source"] == source)
        ]

    def wait_for(
        self,
        matches: Callable[[dict[str, Any]], bool],
        timeout: float,
    ) -> dict[str, Any] | None:
        """The first logged event `matches` accepts, waiting up to `timeout` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._changed:
            while True:
                for event in self._events[checked:]:
                    if matches(event):
                        return copy.deepcopy(event)
                checked = len(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)


def log_entry(
    entry: Mapping[str, Any], event_id: str, bus_name: str, account_id: str, region: str
) -> dict[str, Any]:
    """A PutEvents entry as the log keeps it: the event EventBridge would deliver, plus the bus."""
    try:
        detail = json.loads(entry.get("Detail") or "null")
    except ValueError:
        detail = entry.get("Detail")
    return {
        "id": event_id,
        "bus": bus_name,
        "source": entry.get("Source"),
        "detail-type": entry.get("DetailType"),
        "detail": detail,
        "time": iso_time(entry["Time"]) if entry.get("Time") is not None else iso_time(time.time()),
        "resources": list(entry.get("Resources") or []),
        "account": account_id,
        "region": region,
    }
