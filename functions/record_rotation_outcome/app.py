"""Record rotation outcome: write how a rotation ended to the registry, then publish its event.

Every ending leaves the connection ACTIVE on a key that works: the new one (ROTATED; STALLED, where both
keys stay active; INTERRUPTED after the promotion) or the old one (FAILED, ROLLED_BACK). The write is
conditional on this rotation still holding the record, so an offboarding that took the connection over is
never overwritten. A refusal (not ACTIVE, two keys already) changes no record: it is only news.

Every ending but a success or a rollback a person asked for counts in the KeyRotationFailed metric, which
the KeyRotationFailedAlarm watches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry, rotation
from provisioner_core.errors import ConnectionBusy
from provisioner_core.lifecycle_events import publish
from provisioner_core.step import caught_error, translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

    from provisioner_core.contracts.run_state import RecordRotationOutcomeEvent, RotationRun

logger = Logger()
metrics = Metrics()
OUTCOMES = ("ROTATED", "FAILED", "ROLLED_BACK", "STALLED", "INTERRUPTED", "REFUSED")
METRIC_NAMES = {
    "ROTATED": "KeyRotated",
    "ROLLED_BACK": "KeyRotationRolledBack",
    "FAILED": "KeyRotationFailed",
    "STALLED": "KeyRotationFailed",
    "INTERRUPTED": "KeyRotationFailed",
    "REFUSED": "KeyRotationFailed",
}


def current_key(run: RotationRun, outcome: str) -> str:
    """Which key the secret's AWSCURRENT holds at this ending."""
    started = run["rotation"]
    new_key: Mapping[str, Any] = run.get("new_key") or {}
    undo: Mapping[str, Any] = run.get("undo") or {}
    if undo.get("current_access_key_id"):
        return str(undo["current_access_key_id"])
    if outcome in ("ROTATED", "STALLED") or (outcome == "INTERRUPTED" and "hand_over" in run):
        return str(new_key.get("access_key_id") or started["old_access_key_id"])
    return str(started["old_access_key_id"])


def ending(run: RotationRun, outcome: str) -> tuple[dict[str, Any], list[str]]:
    """(the rotation's final stage fields, what the connection holds beyond one working key)."""
    started = run["rotation"]
    new_key: Mapping[str, Any] = run.get("new_key") or {}
    fields: dict[str, Any] = {"stage": outcome, "ended_at": registry.now()}
    left: list[str] = []
    user = started["connection"]["iam_user_name"]
    if outcome == "STALLED":
        days = started["timing"]["adoption_days"]
        fields["note"] = (
            f"the consumer did not use the new key within {days} days; both keys stay active and the "
            "secret's AWSCURRENT holds the new one. Once the consumer uses it, delete the old key; or "
            "delete the new one to go back, and rotate again later"
        )
        left.append(f"old access key {started['old_access_key_id']} on user {user} (still active)")
    if outcome in ("FAILED", "INTERRUPTED"):
        error, message = caught_error(run.get("failure") or {})
        fields["error"] = {"error": error, "message": message[:1000]}
    if outcome == "INTERRUPTED":
        undo: Mapping[str, Any] = run.get("undo") or {}
        if undo:
            left.extend(undo.get("left_behind") or [])
        elif "hand_over" in run:
            left.append(f"old access key {started['old_access_key_id']} on user {user}")
        if "undo_failure" in run and not undo.get("complete"):
            # The undo itself stopped (timed out, crashed) before it could say what it did.
            new_id = new_key.get("access_key_id") or "made by this rotation"
            left.append(f"new access key {new_id} on user {user} (could not be checked; it may remain)")
    if new_key:
        fields["new_access_key_id"] = new_key.get("access_key_id")
    return fields, left


def record_rotation_outcome(
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
    outcome: str,
    run: RotationRun,
    execution_arn: str,
    failed_state: str | None = None,
) -> dict[str, Any]:
    """`failed_state`: the state whose Catch the rotation took last, as the state machine recorded it."""
    started: Mapping[str, Any] = run.get("rotation") or {}
    connection_id = str(started.get("connection_id") or "")
    recorded = False
    detail: dict[str, Any] = {
        "connection_id": connection_id,
        "outcome": outcome,
        "execution_arn": execution_arn,
    }
    if outcome == "REFUSED":
        detail.update({"error": started.get("error"), "cause": started.get("cause")})
        detail_type = rotation.DETAIL_TYPES["FAILED"]
    else:
        fields, left = ending(run, outcome)
        key_id = current_key(run, outcome)
        record: Mapping[str, Any]
        try:
            record = rotation.update(
                dynamodb,
                connection_id,
                execution_arn,
                fields,
                status="ACTIVE",
                access_key_id=key_id,
                rotation_left_behind=left,
                **({"key_rotated_at": fields["ended_at"]} if outcome == "ROTATED" else {}),
            )
            recorded = True
        except ConnectionBusy:
            record = registry.get(dynamodb, connection_id) or cast(Mapping[str, Any], {})
        detail.update(
            {
                "rotation_id": started.get("rotation_id"),
                "status": record.get("status"),
                "access_key_id": key_id,
                "old_access_key_id": started.get("old_access_key_id"),
                "new_access_key_id": run["new_key"].get("access_key_id") if run.get("new_key") else None,
                "secret_arn": started.get("secret_arn"),
                "left_behind": left,
            }
        )
        if outcome in ("FAILED", "INTERRUPTED"):
            detail["error"] = fields.get("error")
        detail_type = rotation.DETAIL_TYPES[outcome]
    published = publish(events, registry.event_bus_name(), detail_type, detail)
    result = {**detail, "recorded": recorded, "event_published": published}
    if outcome == "INTERRUPTED":
        result["cause"] = json.dumps(
            {"failed_step": failed_state, "left_behind": detail["left_behind"], "error": detail.get("error")},
            separators=(",", ":"),
        )
    return result


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RecordRotationOutcomeEvent, context: LambdaContext) -> dict[str, Any]:
    outcome = str(event["outcome"])
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if outcome in METRIC_NAMES:
        metrics.add_metric(name=METRIC_NAMES[outcome], unit=MetricUnit.Count, value=1)
    result = record_rotation_outcome(
        aws.client("dynamodb"),
        aws.client("events"),
        outcome,
        event["run"],
        event["execution_arn"],
        event.get("failed_state"),
    )
    logger.info("Rotation recorded", connection_id=result["connection_id"], outcome=outcome)
    return result
