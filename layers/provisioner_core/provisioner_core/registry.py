"""The connection registry: one DynamoDB item per connection, written by the flows themselves.

Every write is conditional, so two runs can never both claim a connection id, and a run can only ever
change the record it claimed. Never stores key material: only ids, names and ARNs.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import ConnectionAlreadyExists, ConnectionBusy, ConnectionNotFound

Status = Literal["PROVISIONING", "ACTIVE", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING", "DELETED"]
STATUSES: tuple[Status, ...] = (
    "PROVISIONING", "ACTIVE", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING", "DELETED",
)  # fmt: skip
# A connection in one of these may be onboarded again under the same id.
REUSABLE: tuple[Status, ...] = ("FAILED", "DELETED")
# A connection in one of these may be offboarded.
REMOVABLE: tuple[Status, ...] = ("ACTIVE", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING")
# Connections in these states need the bucket's Labellerr CORS rule, or are about to.
RELIES_ON_CORS: tuple[Status, ...] = ("ACTIVE", "PROVISIONING")
BUCKET_INDEX = "by-bucket"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def table_name() -> str:
    return os.environ["CONNECTIONS_TABLE"]


def event_bus_name() -> str:
    return os.environ["EVENT_BUS_NAME"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_item(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in record.items() if value is not None}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal, which JSON, the API and events cannot carry."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{key}": _serializer.serialize(value) for key, value in values.items()}


def get(dynamodb: Any, connection_id: str, table: str | None = None) -> dict[str, Any] | None:
    item = dynamodb.get_item(
        TableName=table or table_name(), Key={"connection_id": {"S": connection_id}}, ConsistentRead=True
    ).get("Item")
    return from_item(item) if item else None


def claim(dynamodb: Any, record: dict[str, Any], table: str | None = None) -> None:
    """Write a PROVISIONING record unless another run holds this id (the same execution may re-claim)."""
    try:
        dynamodb.put_item(
            TableName=table or table_name(),
            Item=to_item({**record, "status": "PROVISIONING", "updated_at": now()}),
            ConditionExpression="attribute_not_exists(connection_id) OR #status IN (:failed, :deleted) "
            "OR (#status = :provisioning AND execution_arn = :execution_arn)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_values(
                failed="FAILED",
                deleted="DELETED",
                provisioning="PROVISIONING",
                execution_arn=record["execution_arn"],
            ),
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        current = get(dynamodb, record["connection_id"], table) or {}
        raise ConnectionAlreadyExists(
            f"connection_id: {record['connection_id']!r} is already {current.get('status', 'taken')} "
            f"(execution {current.get('execution_arn', 'unknown')}); offboard it or choose another id"
        ) from None


def update(
    dynamodb: Any,
    connection_id: str,
    changes: dict[str, Any],
    *,
    owner_field: str,
    owner: str,
    remove: tuple[str, ...] = (),
    table: str | None = None,
) -> dict[str, Any]:
    """Set `changes` on the record, only while `owner_field` still names this run. Returns the new record."""
    changes = {**changes, "updated_at": now()}
    names = {f"#f{i}": key for i, key in enumerate(changes)}
    sets = [f"#f{i} = :v{i}" for i in range(len(changes))]
    values = {f":v{i}": _serializer.serialize(value) for i, value in enumerate(changes.values())}
    names["#owner"] = owner_field
    values[":owner"] = _serializer.serialize(owner)
    expression = "SET " + ", ".join(sets)
    if remove:
        names.update({f"#r{i}": key for i, key in enumerate(remove)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    try:
        response = dynamodb.update_item(
            TableName=table or table_name(),
            Key={"connection_id": {"S": connection_id}},
            UpdateExpression=expression,
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        raise ConnectionBusy(
            f"connection {connection_id!r} is no longer held by {owner}; its record was left as it is"
        ) from None
    return from_item(response["Attributes"])


def begin_offboarding(
    dynamodb: Any, connection_id: str, execution_arn: str, table: str | None = None
) -> dict[str, Any] | None:
    """Mark the record DEPROVISIONING for this run; None when it is already DELETED (nothing to do)."""
    current = get(dynamodb, connection_id, table)
    if current is None:
        raise ConnectionNotFound(f"connection_id: no connection {connection_id!r}")
    if current["status"] == "DELETED":
        return None
    if current["status"] not in REMOVABLE:
        raise ConnectionBusy(
            f"connection {connection_id!r} is {current['status']}; offboard it once its onboarding has ended"
        )
    return update(
        dynamodb,
        connection_id,
        {"status": "DEPROVISIONING", "offboarding_execution_arn": execution_arn},
        owner_field="status",
        owner=current["status"],
        table=table,
    )


def others_on_bucket(
    dynamodb: Any, bucket: str, connection_id: str, table: str | None = None
) -> list[dict[str, Any]]:
    """The bucket's other connections (any status), for deciding whether a shared CORS rule must stay."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table or table_name(),
        "IndexName": BUCKET_INDEX,
        # "bucket" is a DynamoDB reserved word, hence the name placeholder.
        "KeyConditionExpression": "#bucket = :bucket",
        "ExpressionAttributeNames": {"#bucket": "bucket"},
        "ExpressionAttributeValues": {":bucket": {"S": bucket}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        items += [from_item(i) for i in page.get("Items", []) if i["connection_id"]["S"] != connection_id]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def cors_rule_needed_by_others(
    dynamodb: Any, bucket: str, connection_id: str, table: str | None = None
) -> bool:
    """Whether another live connection on the bucket relies on the shared Labellerr CORS rule."""
    return any(
        other["status"] in RELIES_ON_CORS and other.get("apply_cors", True)
        for other in others_on_bucket(dynamodb, bucket, connection_id, table)
    )


def list_page(
    dynamodb: Any,
    *,
    bucket: str | None,
    status: str | None,
    limit: int,
    next_token: str | None,
    table: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of connections, newest record format, optionally of one bucket and/or one status."""
    kwargs: dict[str, Any] = {"TableName": table or table_name(), "Limit": limit}
    if next_token:
        kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(next_token.encode()))
    if status:
        kwargs["FilterExpression"] = "#status = :status"
        kwargs["ExpressionAttributeNames"] = {"#status": "status"}
        kwargs["ExpressionAttributeValues"] = {":status": {"S": status}}
    if bucket:
        kwargs["IndexName"] = BUCKET_INDEX
        kwargs["KeyConditionExpression"] = "#bucket = :bucket"
        kwargs.setdefault("ExpressionAttributeNames", {})["#bucket"] = "bucket"
        kwargs.setdefault("ExpressionAttributeValues", {})[":bucket"] = {"S": bucket}
        page = dynamodb.query(**kwargs)
    else:
        page = dynamodb.scan(**kwargs)
    token = page.get("LastEvaluatedKey")
    encoded = base64.urlsafe_b64encode(json.dumps(token).encode()).decode() if token else None
    return [from_item(i) for i in page.get("Items", [])], encoded
