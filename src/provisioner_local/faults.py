"""Fault injection for the functions' AWS clients: `service:Operation[:N]` fails that call (N times).

The rules act through a botocore `before-call` handler that the local stack attaches only to sessions made by
`provisioner_core.aws`, so the interpreter's, the tests' and the user's clients are never faulted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import UnknownServiceError

FAULT_ERROR_CODE: Final = "InjectedFault"
# A 5xx, like a service failure: only the error code tells it was injected.
FAULT_HTTP_STATUS: Final = 500


class FaultSpecError(ValueError):
    """A --fault that names no botocore service or operation."""


@dataclass(frozen=True)
class Fault:
    service: str
    operation: str
    # None: every call fails; N: the first N calls fail, later ones go through.
    times: int | None = None

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    def __str__(self) -> str:
        return self.key if self.times is None else f"{self.key}:{self.times}"


@cache
def _operation_names(service: str) -> frozenset[str]:
    session = botocore.session.get_session()
    try:
        model = session.get_service_model(service)
    except UnknownServiceError as error:
        raise FaultSpecError(f"unknown AWS service {service!r} (use botocore names: iam, s3, ...)") from error
    return frozenset(model.operation_names)


def parse_fault(spec: str) -> Fault:
    parts = spec.strip().split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise FaultSpecError(f"{spec!r}: expected SERVICE:Operation or SERVICE:Operation:N")
    service, operation = parts[0].lower(), parts[1]
    operations = _operation_names(service)
    if operation not in operations:
        close = sorted(name for name in operations if name.lower() == operation.lower())
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FaultSpecError(f"{spec!r}: {service} has no operation {operation!r}{hint}")
    times: int | None = None
    if len(parts) == 3:
        try:
            times = int(parts[2])
        except ValueError:
            times = -1
        if times < 1:
            raise FaultSpecError(f"{spec!r}: N must be a positive number of calls to fail")
    return Fault(service, operation, times)


class FaultInjector:
    """The current rules, swappable at run time; handlers read them on every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining: dict[str, int | None] = {}
        self._rules: tuple[Fault, ...] = ()
        self._fired: list[str] = []

    @property
    def rules(self) -> tuple[Fault, ...]:
        return self._rules

    @property
    def fired(self) -> list[str]:
        """`service:Operation` of every call failed so far, in order."""
        with self._lock:
            return list(self._fired)

    def set(self, specs: Iterable[str | Fault]) -> None:
        rules = tuple(spec if isinstance(spec, Fault) else parse_fault(spec) for spec in specs)
        with self._lock:
            self._rules = rules
            self._remaining = {rule.key: rule.times for rule in rules}
            self._fired.clear()

    def take(self, service: str, operation: str) -> bool:
        """Whether this call must fail; counts it against an N-times rule."""
        key = f"{service}:{operation}"
        with self._lock:
            if key not in self._remaining:
                return False
            remaining = self._remaining[key]
            if remaining is not None:
                if remaining <= 0:
                    return False
                self._remaining[key] = remaining - 1
            self._fired.append(key)
            return True

    def before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """botocore `before-call` handler: a returned (response, parsed) replaces the real call."""
        service = model.service_model.service_name
        operation = model.name
        if not self.take(service, operation):
            return None
        message = f"Injected fault for {service}:{operation} (provisioner-local --fault)"
        parsed = {
            "Error": {"Code": FAULT_ERROR_CODE, "Message": message},
            "ResponseMetadata": {
                "HTTPStatusCode": FAULT_HTTP_STATUS,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        }
        response = AWSResponse(url="", status_code=FAULT_HTTP_STATUS, headers=HTTPHeaders(), raw=None)
        return response, parsed

    def attach(self, session: Any) -> None:
        """A `provisioner_core.aws.SESSION_HOOKS` entry."""
        # One id per injector: botocore drops a second handler under an id it already has.
        session.events.register(
            "before-call.*.*", self.before_call, unique_id=f"provisioner-local-faults-{id(self)}"
        )
