"""The flows' executions: their names, their ARNs (known before they start) and the onboarding run's input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    """Known before StartExecution, so the registry can be claimed for the run before it starts."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def execution_name(connection_id: str, attempt: int) -> str:
    return connection_id if attempt == 1 else f"{connection_id}-{attempt}"


def first_attempt(connection_id: str, previous: Mapping[str, Any] | None) -> int:
    """The attempt after the one that wrote `previous`, so a repeat onboarding rarely hits a used name."""
    last = str((previous or {}).get("execution_arn", "")).rsplit(":", 1)[-1]
    if last == connection_id:
        return 2
    suffix = last.removeprefix(f"{connection_id}-")
    if suffix != last and suffix.isascii() and suffix.isdigit():
        return int(suffix) + 1
    return 1


def onboarding_input(raw: Mapping[str, Any], connection_id: str) -> str:
    return json.dumps({**raw, "connection_id": connection_id}, sort_keys=True, separators=(",", ":"))
