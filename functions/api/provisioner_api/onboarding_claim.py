"""The registry claim POST writes before it starts an onboarding run, and putting it back if none started."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_api.runtime import SETTINGS, logger
from provisioner_core import registry
from provisioner_core.aws import error_code
from provisioner_core.errors import ConnectionAlreadyExists
from provisioner_core.request import ConnectionRequest, to_connection

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def put_claim(
    dynamodb: DynamoDBClient, record: dict[str, Any], replacing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Write `record` as PROVISIONING only while the item is still exactly `replacing` (None: absent).

    registry.claim lets the same execution ARN claim twice, so two requests for one id, which predict
    the same ARN, would both pass it; this optimistic check lets exactly one of them through.
    """
    item = {**record, "status": "PROVISIONING", "updated_at": registry.now()}
    condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(connection_id)"}
    if replacing is not None:
        checks, values = ["#status = :status"], {":status": replacing["status"]}
        for field in ("execution_arn", "updated_at"):
            if replacing.get(field) is None:
                checks.append(f"attribute_not_exists({field})")
            else:
                checks.append(f"{field} = :{field}")
                values[f":{field}"] = replacing[field]
        condition = {
            "ConditionExpression": " AND ".join(checks),
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": registry.to_item(values),
        }
    try:
        dynamodb.put_item(TableName=registry.table_name(), Item=registry.to_item(item), **condition)
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        current = registry.get(dynamodb, record["connection_id"]) or {"status": "taken"}
        raise ConnectionAlreadyExists(
            f"connection {record['connection_id']!r} is already {current['status']}; "
            "offboard it or choose another connection_id"
        ) from None
    return item


def undo_claim(
    dynamodb: DynamoDBClient, ours: Mapping[str, Any], previous_item: dict[str, Any] | None
) -> None:
    """Nothing was started: put back the item as it was, or (the API may not delete) a reusable FAILED."""
    restored = previous_item or registry.to_item(
        {
            **ours,
            "status": "FAILED",
            "error": {"error": "StartExecutionFailed", "cause": "the onboarding run could not be started"},
            "updated_at": registry.now(),
        }
    )
    try:
        dynamodb.put_item(
            TableName=registry.table_name(),
            Item=restored,
            ConditionExpression="#status = :provisioning AND execution_arn = :execution_arn",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=registry.to_item(
                {":provisioning": "PROVISIONING", ":execution_arn": ours["execution_arn"]}
            ),
        )
    except ClientError as error:
        # ConditionalCheckFailed: the record is no longer ours, so it is not ours to put back either.
        logger.warning(
            "Registry claim not undone", connection_id=ours["connection_id"], error_code=error_code(error)
        )


def claim_record(request: ConnectionRequest, connection_id: str, execution_arn: str) -> dict[str, Any]:
    """The record the flow's Register connection step writes too; the bucket's region is not known yet."""
    connection = to_connection(
        request.model_copy(update={"connection_id": connection_id}),
        SETTINGS,
        execution_arn=execution_arn,
        region="",
    )
    record: dict[str, Any] = {key: value for key, value in connection.items() if key != "region"}
    return {**record, "created_at": registry.now()}
