"""A connection's health, as the health check state machine records it in the registry (`Record.health`).

The check fills these and the HTTP API answers them (GET, the list and its `health=` filter). Never key
material: each finding names what was looked at and what was found, in words a person can act on.
"""

from __future__ import annotations

from typing import Literal, Required

# pydantic (scripts/generate_openapi.py) reads these TypedDicts only from typing_extensions on Python < 3.12.
from typing_extensions import TypedDict

# BROKEN: Labellerr cannot read (key, policy, a Deny, the bucket, KMS); DEGRADED: it can, but something is
# off (CORS for the browser, a widening, Labellerr's side, a stale key).
HealthStatus = Literal["HEALTHY", "DEGRADED", "BROKEN"]
FindingOutcome = Literal["passed", "failed", "warning"]


class HealthFinding(TypedDict):
    """One thing the check looked at, and what it found."""

    check: str
    outcome: FindingOutcome
    detail: str
    # Whether a repair (POST /connections/{id}/repairs) can put it back: only what the stack created.
    repairable: bool


class Health(TypedDict, total=False):
    """The last health check of a connection: its verdict, when, which run, and every finding."""

    status: Required[HealthStatus]
    checked_at: Required[str]
    execution_arn: Required[str]
    findings: Required[list[HealthFinding]]
    # What the last repair put back, each by name (a repair run only).
    repaired: list[str]
