"""A connection's health: what a finding's outcome makes of the status, and when a change is news.

BROKEN when any finding failed (Labellerr cannot read: the key, the policy, a deny, the bucket, KMS);
DEGRADED when any is a warning (it can read, but something is off: CORS for the browser, a widening of our
user, Labellerr's side, a key we did not issue); HEALTHY otherwise. `not_tried` (a check that could not run,
Labellerr's API down say) changes nothing: an outage elsewhere is not a sick connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioner_core.contracts.health import HealthFinding, HealthStatus, Outcome

HEALTH_CHANGED = "Connection Health Changed"
STATUSES = ("HEALTHY", "DEGRADED", "BROKEN")


def finding(check: str, outcome: Outcome, detail: str, repairable: bool = False) -> HealthFinding:
    return {"check": check, "outcome": outcome, "detail": detail[:600], "repairable": repairable}


def status_of(findings: Iterable[Mapping[str, Any]]) -> HealthStatus:
    outcomes = {f.get("outcome") for f in findings}
    if "failed" in outcomes:
        return "BROKEN"
    if "warning" in outcomes:
        return "DEGRADED"
    return "HEALTHY"


def problems(findings: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """What makes a connection less than healthy, as (check, outcome): the details' wording (a count, a key
    name) may differ between two checks of the same state, so they are not compared."""
    return sorted(
        {
            (str(f.get("check")), str(f.get("outcome")))
            for f in findings
            if f.get("outcome") in ("failed", "warning")
        }
    )


def changed(before: Mapping[str, Any] | None, status: str, findings: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a check's result is news: the status, or the set of problems, differs from the last check's.
    The first check of a connection is news only when it is not HEALTHY (onboarding said it was)."""
    if not before or "status" not in before:
        return status != "HEALTHY"
    return before.get("status") != status or problems(before.get("findings") or []) != problems(findings)


def repairable(findings: Iterable[Mapping[str, Any]]) -> bool:
    return any(f.get("repairable") and f.get("outcome") in ("failed", "warning") for f in findings)
