"""Record health writes `health` into the record and says so on the bus only when it is news."""

from __future__ import annotations

from typing import Any

from functions.record_health.app import record_health
from provisioner_core import health, registry
from tests.unit.health_setup import onboarded

ARN = "arn:aws:states:us-east-1:123456789012:execution:labellerr-provisioner-health:check-1"


def _run(connection_id: str, findings: list[Any], at: str, **extra: Any) -> dict[str, Any]:
    check = {
        "connection_id": connection_id,
        "checked": True,
        "checked_at": at,
        "status": health.status_of(findings),
        "findings": findings,
        "repairable": health.repairable(findings),
    }
    return {
        "run": {"connection_id": connection_id, "repair": False, "check": check, **extra},
        "execution_arn": ARN,
    }


def test_a_change_is_recorded_and_published_once_and_a_repeat_is_not(
    iam, secrets, dynamodb, events, connection
):
    onboarded(iam, secrets, dynamodb, connection)
    cid = connection["connection_id"]
    detached = [health.finding("policy_attached", "failed", "detached", True)]
    record_health(_run(cid, detached, "2026-12-08T01:00:00Z"), ARN, dynamodb, events)
    record_health(_run(cid, detached, "2026-12-08T02:00:00Z"), ARN, dynamodb, events)
    record = registry.get(dynamodb, cid)
    assert record["status"] == "ACTIVE"
    assert (record["health"]["status"], record["health"]["checked_at"]) == ("BROKEN", "2026-12-08T02:00:00Z")
    [event] = events.published()
    assert event["detail-type"] == "Connection Health Changed"
    assert (event["detail"]["status"], event["detail"]["previous_status"]) == ("BROKEN", None)
    assert event["detail"]["findings"] == detached


def test_an_older_check_never_overwrites_a_newer_one(iam, secrets, dynamodb, events, connection):
    onboarded(iam, secrets, dynamodb, connection)
    cid = connection["connection_id"]
    record_health(_run(cid, [], "2026-12-08T02:00:00Z"), ARN, dynamodb, events)
    late = record_health(
        _run(cid, [health.finding("keys", "warning", "x")], "2026-12-08T01:00:00Z"), ARN, dynamodb, events
    )
    assert late["recorded"] is False
    assert registry.get(dynamodb, cid)["health"]["status"] == "HEALTHY"


def test_a_connection_no_longer_active_keeps_its_record(iam, secrets, dynamodb, events, connection):
    onboarded(iam, secrets, dynamodb, connection)
    cid = connection["connection_id"]
    registry.update(
        dynamodb, cid, {"status": "DELETED"}, owner_field="execution_arn", owner=connection["execution_arn"]
    )
    result = record_health(_run(cid, [health.finding("user", "failed", "gone")], "2026-12-08T02:00:00Z"), ARN,
                           dynamodb, events)  # fmt: skip
    assert result["recorded"] is False
    assert "health" not in registry.get(dynamodb, cid)
    assert events.published() == []


def test_a_check_that_could_not_run_leaves_the_last_health_and_notes_why(
    iam, secrets, dynamodb, events, connection
):
    onboarded(iam, secrets, dynamodb, connection)
    cid = connection["connection_id"]
    record_health(_run(cid, [], "2026-12-08T01:00:00Z"), ARN, dynamodb, events)
    failed = {"run": {"connection_id": cid, "check_error": {"Error": "AwsCallFailed", "Cause": "{\"errorMessage\": \"iam:GetUser: ServiceUnavailable\"}"}}, "execution_arn": ARN}  # fmt: skip
    record_health(failed, ARN, dynamodb, events)
    record = registry.get(dynamodb, cid)
    assert record["health"]["status"] == "HEALTHY"
    assert record["health_check_error"]["error"] == "AwsCallFailed"
