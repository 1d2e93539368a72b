"""Record outcome: write how a run ended to the registry, then publish the lifecycle event.

One function for every ending (ACTIVE, FAILED, ROLLBACK_FAILED, DELETED) of both flows, so the record
and the event always agree. A run only ever changes the record it claimed. The registry write is what
matters: the event is published after it, retried, and a failure to publish is reported in the result
and the log, never a reason to undo a connection that works.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry
from provisioner_core.errors import ConnectionBusy
from provisioner_core.lifecycle_events import publish
from provisioner_core.step import caught_error, translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

    from provisioner_core.contracts.run_state import RecordOutcomeEvent
    from provisioner_core.contracts.step_results import LifecycleDetail, RecordedOutcome

logger = Logger()
# Embedded metric format: the alarms (RollbackFailedAlarm) read these from the logs, no API call.
metrics = Metrics()
METRIC_NAMES = {
    ("onboarding", "ACTIVE"): "OnboardingSucceeded",
    ("onboarding", "FAILED"): "OnboardingFailed",
    ("onboarding", "ROLLBACK_FAILED"): "RollbackFailed",
    ("offboarding", "DELETED"): "OffboardingSucceeded",
    ("offboarding", "ROLLBACK_FAILED"): "RollbackFailed",
}

DETAIL_TYPES = {
    "ACTIVE": "Connection Provisioned",
    "FAILED": "Connection Failed",
    "ROLLBACK_FAILED": "Connection Rollback Failed",
    "DELETED": "Connection Deleted",
}


FLOWS = ("onboarding", "offboarding")


def cleanup_account(
    flow: str, run: dict[str, Any], failed_state: str | None
) -> tuple[dict[str, Any], list[str]]:
    """(cause, left_behind) of a cleanup that did not finish, from its own report when it made one; when it
    stopped without one, the state machine recorded which state that was (`failed_state`)."""
    report = run.get("rollback") or run.get("removal") or {}
    if report.get("cause") and not report.get("complete"):
        cause = json.loads(report["cause"])
    else:
        cause = {"failed_step": failed_state}
    left = list(cause.get("left_behind") or report.get("left_behind") or [])
    if "rollback_failure" in run:
        error, message = caught_error(run["rollback_failure"])
        connection_id = connection_id_of(flow, run)
        left.append(
            f"unknown: the cleanup stopped with {error}; DELETE /connections/{connection_id} finishes it"
        )
        cause.update({"error": "RollbackFailed", "stopped_with": {"error": error, "message": message[:1000]}})
    cause["left_behind"] = left
    return cause, left


def connection_id_of(flow: str, run: dict[str, Any]) -> Any:
    if flow == "offboarding":
        return run["offboarding"]["connection_id"]
    request = run.get("request")
    connection = run.get("connection") or (request if isinstance(request, dict) else {})
    return connection.get("connection_id")


def rollback_failed_changes(flow: str, run: dict[str, Any], failed_state: str | None) -> dict[str, Any]:
    cause, left = cleanup_account(flow, run, failed_state)
    return {
        "status": "ROLLBACK_FAILED",
        "error": {"error": "RollbackFailed", "cause": json.dumps(cause, separators=(",", ":"))},
        "left_behind": left,
    }


def onboarding_changes(outcome: str, run: dict[str, Any], failed_state: str | None) -> dict[str, Any]:
    if outcome == "ACTIVE":
        return {
            "status": "ACTIVE",
            "iam_user_arn": run["user"]["user_arn"],
            "policy_arn": run["policy"]["policy_arn"],
            "access_key_id": run["access_key"]["access_key_id"],
            "secret_arn": run["access_key"]["secret_arn"],
            "cors": run["cors"],
            "verification": run["verification"],
            # Absent in runs from before the hand-off existed.
            "labellerr": run.get("labellerr") or {"registered": False, "labellerr_connection_ids": []},
            "activated_at": registry.now(),
        }
    if outcome == "FAILED":
        rollback = run.get("rollback") or {}
        return {
            "status": "FAILED",
            "error": {"error": rollback.get("error", "Unknown"), "cause": rollback.get("cause", "")},
        }
    return rollback_failed_changes("onboarding", run, failed_state)


def record_outcome(
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
    outcome: str,
    run: dict[str, Any],
    execution_arn: str,
    bus_name: str,
    *,
    flow: str,
    failed_state: str | None = None,
) -> RecordedOutcome:
    """`flow` and `failed_state` are what the state machine says: which flow this is, and which state's
    Catch it took last (None when nothing was caught)."""
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {', '.join(FLOWS)}")
    record: Mapping[str, Any]
    if flow == "offboarding":
        connection_id = run["offboarding"]["connection_id"]
        if outcome == "DELETED":
            # What this offboarding removed, by name (and what a person had attached to the user).
            removed = list((run.get("removal") or {}).get("removed") or [])
            changes: dict[str, Any] = {"status": "DELETED", "deleted_at": registry.now(), "removed": removed}
        else:
            changes = rollback_failed_changes(flow, run, failed_state)
        record = registry.update(
            dynamodb,
            connection_id,
            changes,
            owner_field="offboarding_execution_arn",
            owner=execution_arn,
            remove=("left_behind", "error", "previous_status")
            if outcome == "DELETED"
            else ("previous_status",),
        )
    elif (run.get("registration") or {}).get("claimed") is True:
        record = registry.update(
            dynamodb,
            run["connection"]["connection_id"],
            onboarding_changes(outcome, run, failed_state),
            owner_field="execution_arn",
            owner=execution_arn,
            remove=("error", "left_behind") if outcome == "ACTIVE" else (),
        )
    else:
        # Failed before Register connection. The API may already hold a PROVISIONING record for this very
        # execution: close it, or the id stays blocked. Otherwise there is no record, only news.
        request = run.get("request")
        source = run.get("connection") or (request if isinstance(request, dict) else {})
        connection_id = source.get("connection_id")
        news: dict[str, Any] = {
            "connection_id": connection_id,
            **onboarding_changes(outcome, run, failed_state),
        }
        news.update({k: source.get(k) for k in ("bucket", "prefix", "s3_uri", "access")})
        record = news
        if isinstance(connection_id, str) and connection_id:
            # Held by another run, or no record at all: then there is nothing of ours to close.
            with contextlib.suppress(ConnectionBusy):
                record = registry.update(
                    dynamodb, connection_id, onboarding_changes(outcome, run, failed_state),
                    owner_field="execution_arn", owner=execution_arn,
                )  # fmt: skip
    detail = lifecycle_detail(record, execution_arn)
    published = publish(events, bus_name, DETAIL_TYPES[outcome], detail)
    # The detail and whether it was published (and below, a failed run's cause).
    result = cast("RecordedOutcome", {**detail, "event_published": published})
    if record["status"] in ("FAILED", "ROLLBACK_FAILED"):
        result["cause"] = (record.get("error") or {}).get("cause", "")
    return result


def lifecycle_detail(record: Mapping[str, Any], execution_arn: str) -> LifecycleDetail:
    """The event's detail: ids and ARNs only, never key material."""
    detail: LifecycleDetail = {
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
    if record["status"] == "ACTIVE":
        labellerr = record.get("labellerr") or {}
        detail["labellerr_connection_ids"] = list(labellerr.get("labellerr_connection_ids") or [])
    if record["status"] in ("FAILED", "ROLLBACK_FAILED"):
        detail["error"] = record.get("error")
    if record["status"] == "ROLLBACK_FAILED":
        detail["left_behind"] = record.get("left_behind", [])
    if record["status"] == "DELETED":
        detail["removed"] = list(record.get("removed") or [])
    return detail


def seconds_since(stamp: Any) -> float | None:
    try:
        return max(
            0.0,
            (datetime.now(UTC) - datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))).total_seconds(),
        )
    except ValueError:
        return None


def add_metrics(flow: str, outcome: str, run: dict[str, Any]) -> None:
    name = METRIC_NAMES.get((flow, outcome))
    if name:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    waited = seconds_since((run.get("access_key") or {}).get("issued_at")) if outcome == "ACTIVE" else None
    if waited is not None:
        # From the key's creation to its verified use: mostly IAM propagation in AWS.
        metrics.add_metric(name="SecondsToVerifiedKey", unit=MetricUnit.Seconds, value=waited)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RecordOutcomeEvent, context: LambdaContext) -> RecordedOutcome:
    flow = str(event["flow"])
    add_metrics(flow, event["outcome"], event["run"])
    result = record_outcome(
        aws.client("dynamodb"),
        aws.client("events"),
        event["outcome"],
        event["run"],
        event["execution_arn"],
        registry.event_bus_name(),
        flow=flow,
        failed_state=event.get("failed_state"),
    )
    logger.info("Outcome recorded", connection_id=result["connection_id"], status=result["status"])
    return result
