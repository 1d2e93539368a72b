"""Record health: write a check's result into the connection's record as `health`, say so on the bus when it
is news, and count it.

The registry status never changes here: a connection stays ACTIVE (or ROTATING) and its `health` says how it
is. The write is conditional on the record still being ACTIVE or ROTATING (an offboarding that began owns
it) and on no later check having written already (two checks may finish out of order). `Connection Health
Changed` goes out only when the status or the set of problems differs from the last check's, with the
findings, never a secret. A check that could not run (its step failed) leaves the last health as it was and
notes the failure in `health_check_error`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, health, registry
from provisioner_core.lifecycle_events import publish
from provisioner_core.step import caught_error, translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

    from provisioner_core.contracts.health import Health, HealthRecorded, RecordHealthEvent

logger = Logger()
metrics = Metrics()
STILL_CHECKED = "#status IN (:active, :rotating)"


def _write(
    dynamodb: DynamoDBClient, connection_id: str, field: str, value: Any, newer_than: str | None
) -> bool:
    condition = STILL_CHECKED
    values: dict[str, Any] = {
        ":value": registry.serialize(value),
        ":active": {"S": "ACTIVE"},
        ":rotating": {"S": "ROTATING"},
    }
    if newer_than is not None:
        condition += " AND (attribute_not_exists(health) OR health.checked_at <= :checked_at)"
        values[":checked_at"] = {"S": newer_than}
    try:
        dynamodb.update_item(
            TableName=registry.table_name(),
            Key={"connection_id": {"S": connection_id}},
            UpdateExpression="SET #field = :value",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#field": field, "#status": "status"},
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if aws.error_code(error) != "ConditionalCheckFailedException":
            raise
        return False
    return True


def record_health(
    event: RecordHealthEvent, execution_arn: str, dynamodb: DynamoDBClient, events: EventBridgeClient
) -> HealthRecorded:
    run = event["run"]
    connection_id = run["connection_id"]
    checked = run.get("check")
    if checked is None or "check_error" in run:
        error, cause = caught_error(run.get("check_error") or {})
        metrics.add_metric(name="HealthCheckFailed", unit=MetricUnit.Count, value=1)
        noted = {"error": error, "cause": cause[:1000], "execution_arn": execution_arn}
        _write(dynamodb, connection_id, "health_check_error", noted, None)
        return {"connection_id": connection_id, "recorded": False, "changed": False}
    if not checked.get("checked"):
        return {"connection_id": connection_id, "recorded": False, "changed": False}
    record = registry.get(dynamodb, connection_id)
    before = record.get("health") if record else None
    findings = checked.get("findings") or []
    status = checked.get("status") or health.status_of(findings)
    now: Health = {
        "status": status,
        "checked_at": checked["checked_at"],
        "execution_arn": execution_arn,
        "findings": findings,
    }
    repair = run.get("repair_result")
    repaired = repair["repaired"] if repair else []
    if repair is not None:
        now["repaired"] = repaired
    if not _write(dynamodb, connection_id, "health", now, checked["checked_at"]):
        return {"connection_id": connection_id, "recorded": False, "changed": False}
    metrics.add_metric(name="ConnectionsChecked", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ConnectionsUnhealthy", unit=MetricUnit.Count, value=int(status != "HEALTHY"))
    metrics.add_metric(name="ConnectionsBroken", unit=MetricUnit.Count, value=int(status == "BROKEN"))
    metrics.add_metric(name="ConnectionsRepaired", unit=MetricUnit.Count, value=int(bool(repaired)))
    news = health.changed(before, status, findings)
    if news:
        publish(
            events,
            registry.event_bus_name(),
            health.HEALTH_CHANGED,
            {
                "connection_id": connection_id,
                "status": status,
                "previous_status": before["status"] if before else None,
                "checked_at": checked["checked_at"],
                "findings": [f for f in findings if f["outcome"] in ("failed", "warning")],
                "repaired": repaired,
                "execution_arn": execution_arn,
            },
        )
    return {"connection_id": connection_id, "recorded": True, "changed": news, "status": status}


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RecordHealthEvent, context: LambdaContext) -> HealthRecorded:
    result = record_health(event, event["execution_arn"], aws.client("dynamodb"), aws.client("events"))
    logger.info("Health recorded", **result)
    return result
