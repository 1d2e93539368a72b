"""Record outcome: write how a run ended to the registry, then publish the lifecycle event.

One function for every ending (ACTIVE, FAILED, ROLLBACK_FAILED, DELETED) of both flows, so the record
and the event always agree. A run only ever changes the record it claimed.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry
from provisioner_core.errors import AwsCallFailed, ConnectionBusy
from provisioner_core.step import caught_error, translate_aws_errors

logger = Logger()

EVENT_SOURCE = "labellerr.provisioner"
DETAIL_TYPES = {
    "ACTIVE": "Connection Provisioned",
    "FAILED": "Connection Failed",
    "ROLLBACK_FAILED": "Connection Rollback Failed",
    "DELETED": "Connection Deleted",
}


def _left_behind(run: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    error, message = caught_error(run.get("rollback_failure") or {})
    try:
        left = list(json.loads(message).get("left_behind", []))
    except (ValueError, AttributeError):
        left = ["unknown: " + message[:500]]
    return {"error": "RollbackFailed", "cause": f"{error}: {message}"[:4000]}, left


def onboarding_changes(outcome: str, run: dict[str, Any]) -> dict[str, Any]:
    if outcome == "ACTIVE":
        return {
            "status": "ACTIVE",
            "iam_user_arn": run["user"]["user_arn"],
            "policy_arn": run["policy"]["policy_arn"],
            "access_key_id": run["access_key"]["access_key_id"],
            "secret_arn": run["access_key"]["secret_arn"],
            "cors": run["cors"],
            "verification": run["verification"],
            "activated_at": registry.now(),
        }
    if outcome == "FAILED":
        rollback = run.get("rollback") or {}
        return {
            "status": "FAILED",
            "error": {"error": rollback.get("error", "Unknown"), "cause": rollback.get("cause", "")},
        }
    error, left = _left_behind(run)
    return {"status": "ROLLBACK_FAILED", "error": error, "left_behind": left}


def record_outcome(
    dynamodb: Any, events: Any, outcome: str, run: dict[str, Any], execution_arn: str, bus_name: str
) -> dict[str, Any]:
    offboarding = "offboarding" in run
    if offboarding:
        connection_id = run["offboarding"]["connection_id"]
        if outcome == "DELETED":
            changes: dict[str, Any] = {"status": "DELETED", "deleted_at": registry.now()}
        else:
            error, left = _left_behind(run)
            changes = {"status": "ROLLBACK_FAILED", "error": error, "left_behind": left}
        record = registry.update(
            dynamodb,
            connection_id,
            changes,
            owner_field="offboarding_execution_arn",
            owner=execution_arn,
            remove=("left_behind", "error") if outcome == "DELETED" else (),
        )
    elif "registration" in run:
        record = registry.update(
            dynamodb,
            run["connection"]["connection_id"],
            onboarding_changes(outcome, run),
            owner_field="execution_arn",
            owner=execution_arn,
            remove=("error", "left_behind") if outcome == "ACTIVE" else (),
        )
    else:
        # Failed before Register connection. The API may already hold a PROVISIONING record for this very
        # execution: close it, or the id stays blocked. Otherwise there is no record, only news.
        connection = run.get("connection") or {}
        connection_id = connection.get("connection_id") or run.get("connection_id")
        record = {"connection_id": connection_id, **onboarding_changes(outcome, run)}
        record.update({k: connection.get(k, run.get(k)) for k in ("bucket", "prefix", "s3_uri", "access")})
        if isinstance(connection_id, str) and connection_id:
            # Held by another run, or no record at all: then there is nothing of ours to close.
            with contextlib.suppress(ConnectionBusy):
                record = registry.update(
                    dynamodb, connection_id, onboarding_changes(outcome, run),
                    owner_field="execution_arn", owner=execution_arn,
                )  # fmt: skip
    detail = lifecycle_detail(record, execution_arn)
    publish(events, bus_name, DETAIL_TYPES[outcome], detail)
    return detail


def lifecycle_detail(record: dict[str, Any], execution_arn: str) -> dict[str, Any]:
    """The event's detail: ids and ARNs only, never key material."""
    detail = {
        "connection_id": record.get("connection_id"),
        "status": record["status"],
        "bucket": record.get("bucket"),
        "prefix": record.get("prefix"),
        "s3_uri": record.get("s3_uri"),
        "access": record.get("access"),
        "iam_user_arn": record.get("iam_user_arn"),
        "secret_arn": record.get("secret_arn"),
        "execution_arn": execution_arn,
    }
    if record["status"] in ("FAILED", "ROLLBACK_FAILED"):
        detail["error"] = record.get("error")
    if record["status"] == "ROLLBACK_FAILED":
        detail["left_behind"] = record.get("left_behind", [])
    return detail


def publish(events: Any, bus_name: str, detail_type: str, detail: dict[str, Any]) -> None:
    response = events.put_events(
        Entries=[
            {
                "EventBusName": bus_name,
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
            }
        ]
    )
    if response.get("FailedEntryCount"):
        entry = response["Entries"][0]
        raise AwsCallFailed("PutEvents", entry.get("ErrorCode", "Unknown"), entry.get("ErrorMessage", ""))


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = record_outcome(
        aws.client("dynamodb"),
        aws.client("events"),
        event["outcome"],
        event["run"],
        event["execution_arn"],
        registry.event_bus_name(),
    )
    logger.info("Outcome recorded", connection_id=detail["connection_id"], status=detail["status"])
    return detail
