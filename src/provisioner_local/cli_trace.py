"""onboard's trace: one line per finished state of the execution, read from its history as it runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TextIO

from provisioner_local.cli_common import emit

FINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
POLL_SECONDS: Final = 0.05
_FAILURE_EVENTS: Final = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)


def _failure_details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


@dataclass
class _OpenState:
    name: str
    entered: datetime
    errors: list[str] = field(default_factory=list)
    # The last task attempt failed and nothing ran since: leaving now means a Catch took it.
    last_attempt_failed: bool = False


class ExecutionTrace:
    """Turns execution history events into one line per finished state; never prints inputs or outputs."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seen = 0
        self.open: list[_OpenState] = []
        self.lines: list[str] = []

    def feed(self, events: Sequence[dict[str, Any]]) -> None:
        for event in sorted(events, key=lambda item: int(item["id"])):
            if int(event["id"]) <= self.seen:
                continue
            self.seen = int(event["id"])
            self._on_event(event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = str(event["type"])
        timestamp = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = str(event.get("stateEnteredEventDetails", {}).get("name", "?"))
            self.open.append(_OpenState(name=name, entered=timestamp))
            if kind == "FailStateEntered":
                self._finish(self.open.pop(), timestamp, "failed (Fail state)")
        elif kind.endswith("StateExited"):
            name = str(event.get("stateExitedEventDetails", {}).get("name", "?"))
            state = self._pop(name)
            if state is not None:
                self._finish(state, timestamp, self._outcome(state))
        elif kind in _FAILURE_EVENTS and self.open:
            error = str(_failure_details(event).get("error") or kind)
            self.open[-1].errors.append(error)
            self.open[-1].last_attempt_failed = True
        elif kind.endswith(("Scheduled", "Started")) and self.open:
            self.open[-1].last_attempt_failed = False
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            error = str(_failure_details(event).get("error") or kind.removeprefix("Execution").upper())
            while self.open:
                state = self.open.pop()
                self._finish(state, timestamp, f"failed: {state.errors[-1] if state.errors else error}")

    def _pop(self, name: str) -> _OpenState | None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index].name == name:
                return self.open.pop(index)
        return None

    @staticmethod
    def _outcome(state: _OpenState) -> str:
        if not state.errors:
            return "succeeded"
        retries = len(state.errors) - (1 if state.last_attempt_failed else 0)
        retried = f"retried {retries}x ({', '.join(sorted(set(state.errors)))})" if retries else ""
        if state.last_attempt_failed:
            caught = f"failed: {state.errors[-1]} (caught)"
            return f"{caught}, {retried}" if retried else caught
        return f"succeeded, {retried}"

    def _finish(self, state: _OpenState, left: datetime, outcome: str) -> None:
        milliseconds = max(0, round((left - state.entered).total_seconds() * 1000))
        line = f"  {state.name:<24} {outcome:<40} {milliseconds:>6} ms"
        self.lines.append(line)
        emit(self.out, line)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def follow_execution(
    sfn: Any,
    execution_arn: str,
    trace: ExecutionTrace,
    timeout: float,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any] | None:
    """Feed the trace until the execution is final; None when the deadline passes or it is cancelled."""
    deadline = time.monotonic() + timeout
    while True:
        # Status first: when it is final, the history read after it is complete.
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        trace.feed(_history(sfn, execution_arn))
        if description["status"] in FINAL_STATUSES:
            return description
        if time.monotonic() >= deadline or (cancelled is not None and cancelled()):
            return None
        time.sleep(POLL_SECONDS)


def pretty(text: str | None) -> str:
    if not text:
        return "(none)"
    try:
        return json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        return text
