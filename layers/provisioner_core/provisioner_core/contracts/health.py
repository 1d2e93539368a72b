"""A connection's health, as the health check state machine finds it and records it in the registry
(`Record.health`), and the steps' contracts of that state machine.

The HTTP API answers `health` (GET, the list and its `health=` filter). Never key material: each finding
names what was looked at and what was found, in words a person can act on.
"""

from __future__ import annotations

from typing import Literal, NotRequired, Required

# pydantic (scripts/generate_openapi.py) reads these TypedDicts only from typing_extensions on Python < 3.12.
from typing_extensions import TypedDict

HealthStatus = Literal["HEALTHY", "DEGRADED", "BROKEN"]
Outcome = Literal["passed", "failed", "warning", "not_tried"]


class HealthFinding(TypedDict):
    """One thing looked at. `outcome` failed: Labellerr cannot use the connection (BROKEN); warning: it can,
    but something is off (DEGRADED). `repairable`: a repair can put it back (it is ours)."""

    check: str
    outcome: Outcome
    detail: str
    repairable: bool


class Health(TypedDict):
    status: HealthStatus
    checked_at: str
    execution_arn: str
    findings: list[HealthFinding]
    # What the repair before this check put back (a repair run only).
    repaired: NotRequired[list[str]]


# -- the health state machine's steps (statemachine/connection_health.asl.json)


class Selection(TypedDict):
    """Select connections: one page of connection ids, and how many the Map checks at once."""

    connection_ids: list[str]
    next_token: str | None
    repair: bool
    max_concurrency: int


class HealthCheckEvent(TypedDict):
    """Check connection health and Repair connection: the connection, looked up in the registry."""

    connection_id: str


class HealthChecked(TypedDict):
    """Check connection health: `checked` False (with `skipped`) when the connection is not ACTIVE or
    ROTATING."""

    connection_id: str
    checked: bool
    checked_at: str
    skipped: NotRequired[str]
    status: NotRequired[HealthStatus]
    findings: NotRequired[list[HealthFinding]]
    repairable: NotRequired[bool]


class Repair(TypedDict):
    """Repair connection: what it put back, and what it could not (for a person)."""

    repaired: list[str]
    not_repaired: list[str]


class HealthRun(TypedDict, total=False):
    """One Map iteration's state: the item, then each step's result or its caught error."""

    connection_id: Required[str]
    repair: bool
    check: HealthChecked
    check_error: dict[str, str]
    repair_result: Repair
    repair_error: dict[str, str]


class RecordHealthEvent(TypedDict):
    run: HealthRun
    execution_arn: str


class HealthRecorded(TypedDict):
    connection_id: str
    recorded: bool
    changed: bool
    status: NotRequired[HealthStatus]
