"""Fault injection for the functions' AWS clients.

`SERVICE:Operation` fails every such call; `:N` only the first N; `:lost` lets the first call take effect
and then loses its reply (the caller sees a 5xx, as after a timeout); `:lost:N` the first N. A trailing
`@Function` (a function's logical id, with or without its `Function` suffix) limits the rule to calls
that function makes, e.g. `s3:PutBucketCors@Rollback` for a fault in compensation only.

The rules act through botocore `before-call` / `after-call` handlers that the local stack attaches only to
sessions made by `provisioner_core.aws`, so the interpreter's, the tests' and the user's clients are
never faulted. The same handlers record every call the functions make, so tests can discover them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import UnknownServiceError

FAULT_ERROR_CODE: Final = "InjectedFault"
# A 5xx, like a service failure: only the error code tells it was injected.
FAULT_HTTP_STATUS: Final = 500
LOST: Final = "lost"

_calling = threading.local()


class FaultSpecError(ValueError):
    """A --fault that names no botocore service or operation."""


@dataclass(frozen=True)
class Fault:
    service: str
    operation: str
    # None: every call fails; N: the first N calls fail, later ones go through.
    times: int | None = None
    # The call takes effect; only its reply is lost.
    lost: bool = False
    # Only calls made by this function (logical id); None: any function's.
    function: str | None = None

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    def matches(self, service: str, operation: str, function: str | None) -> bool:
        if (self.service, self.operation) != (service, operation):
            return False
        return self.function is None or function in (self.function, f"{self.function}Function")

    def __str__(self) -> str:
        text = self.key + (f":{LOST}" if self.lost else "")
        if self.times is not None and not (self.lost and self.times == 1):
            text += f":{self.times}"
        return text + (f"@{self.function}" if self.function else "")


@cache
def _operation_names(service: str) -> frozenset[str]:
    session = botocore.session.get_session()
    try:
        model = session.get_service_model(service)
    except UnknownServiceError as error:
        raise FaultSpecError(f"unknown AWS service {service!r} (use botocore names: iam, s3, ...)") from error
    return frozenset(model.operation_names)


def _count(spec: str, text: str) -> int:
    try:
        times = int(text)
    except ValueError:
        times = -1
    if times < 1:
        raise FaultSpecError(f"{spec!r}: N must be a positive number of calls to fail")
    return times


def parse_fault(spec: str) -> Fault:
    body, _, function = spec.strip().partition("@")
    parts = body.split(":")
    if len(parts) not in (2, 3, 4) or not all(parts) or (spec.count("@") and not function):
        raise FaultSpecError(f"{spec!r}: expected SERVICE:Operation[:N|:lost|:lost:N][@Function]")
    service, operation = parts[0].lower(), parts[1]
    operations = _operation_names(service)
    if operation not in operations:
        close = sorted(name for name in operations if name.lower() == operation.lower())
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FaultSpecError(f"{spec!r}: {service} has no operation {operation!r}{hint}")
    lost = len(parts) >= 3 and parts[2] == LOST
    if len(parts) == 4 and not lost:
        raise FaultSpecError(f"{spec!r}: expected SERVICE:Operation[:N|:lost|:lost:N][@Function]")
    if lost:
        times: int | None = _count(spec, parts[3]) if len(parts) == 4 else 1
    else:
        times = _count(spec, parts[2]) if len(parts) == 3 else None
    return Fault(service, operation, times, lost, function or None)


@contextlib.contextmanager
def calling_function(name: str) -> Iterator[None]:
    """Marks this thread as running `name`'s handler, for `@Function` rules and the call log."""
    previous = getattr(_calling, "name", None)
    _calling.name = name
    try:
        yield
    finally:
        _calling.name = previous


def current_function() -> str | None:
    return getattr(_calling, "name", None)


class FaultInjector:
    """The current rules, swappable at run time; handlers read them on every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: dict[Fault, int | None] = {}
        self._rules: tuple[Fault, ...] = ()
        self._fired: list[str] = []
        self._calls: list[tuple[str | None, str, str]] = []
        self._answered: set[tuple[str | None, str, str]] = set()

    @property
    def rules(self) -> tuple[Fault, ...]:
        return self._rules

    @property
    def fired(self) -> list[str]:
        """`service:Operation` of every call failed so far, in order."""
        with self._lock:
            return list(self._fired)

    @property
    def calls(self) -> list[tuple[str | None, str, str]]:
        """(function, service, operation) of every call the functions made since the rules were set."""
        with self._lock:
            return list(self._calls)

    @property
    def answered(self) -> set[tuple[str | None, str, str]]:
        """(function, service, operation) of the calls AWS answered with success since the rules were set: the
        only calls whose reply a `lost` rule can lose."""
        with self._lock:
            return set(self._answered)

    def set(self, specs: Iterable[str | Fault]) -> None:
        rules = tuple(spec if isinstance(spec, Fault) else parse_fault(spec) for spec in specs)
        with self._lock:
            self._rules = rules
            self._remaining = {rule: rule.times for rule in rules}
            self._fired.clear()
            self._calls.clear()
            self._answered.clear()

    def take(self, service: str, operation: str, *, lost: bool = False) -> bool:
        """Whether this call must fail (before it is made, or after, for `lost` rules); counts it."""
        function = current_function()
        with self._lock:
            for rule in self._rules:
                if rule.lost != lost or not rule.matches(service, operation, function):
                    continue
                remaining = self._remaining[rule]
                if remaining is not None:
                    if remaining <= 0:
                        continue
                    self._remaining[rule] = remaining - 1
                self._fired.append(rule.key)
                return True
        return False

    @staticmethod
    def _error(service: str, operation: str, lost: bool) -> dict[str, Any]:
        what = "reply lost after the call took effect" if lost else "injected fault"
        return {
            "Error": {
                "Code": FAULT_ERROR_CODE,
                "Message": f"{what.capitalize()} for {service}:{operation} (provisioner-local --fault)",
            },
            "ResponseMetadata": {"HTTPStatusCode": FAULT_HTTP_STATUS, "HTTPHeaders": {}, "RetryAttempts": 0},
        }

    def before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """botocore `before-call` handler: a returned (response, parsed) replaces the real call."""
        service = model.service_model.service_name
        with self._lock:
            self._calls.append((current_function(), service, model.name))
        if not self.take(service, model.name):
            return None
        response = AWSResponse(url="", status_code=FAULT_HTTP_STATUS, headers=HTTPHeaders(), raw=None)
        return response, self._error(service, model.name, lost=False)

    def after_call(self, model: Any, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        """botocore `after-call` handler: the call went through; turn its answer into a 5xx in place."""
        service = model.service_model.service_name
        if http_response is None or http_response.status_code >= 300:
            return
        with self._lock:
            self._answered.add((current_function(), service, model.name))
        if not self.take(service, model.name, lost=True):
            return
        http_response.status_code = FAULT_HTTP_STATUS
        parsed.clear()
        parsed.update(self._error(service, model.name, lost=True))

    def attach(self, session: Any) -> None:
        """A `provisioner_core.aws.SESSION_HOOKS` entry."""
        # One id per injector: botocore drops a second handler under an id it already has.
        session.events.register(
            "before-call.*.*", self.before_call, unique_id=f"provisioner-local-faults-{id(self)}"
        )
        session.events.register(
            "after-call.*.*", self.after_call, unique_id=f"provisioner-local-lost-replies-{id(self)}"
        )
