"""The connection registry: one DynamoDB item per connection, written by the flows themselves.

Every write is conditional, so two runs can never both claim a connection id, and a run can only ever
change the record it claimed. Never stores key material: only ids, names and ARNs.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import ConnectionAlreadyExists, ConnectionBusy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from provisioner_core.contracts.health import HealthStatus
    from provisioner_core.contracts.records import Record, Status

STATUSES: tuple[Status, ...] = (
    "PROVISIONING", "ACTIVE", "ROTATING", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING", "DELETED",
)  # fmt: skip
# A connection in one of these may be onboarded again under the same id.
REUSABLE: tuple[Status, ...] = ("FAILED", "DELETED")
# A connection in one of these may be offboarded at any time; PROVISIONING and DEPROVISIONING only once
# the run that holds them has ended (see claims.py).
SETTLED: tuple[Status, ...] = ("ACTIVE", "FAILED", "ROLLBACK_FAILED")
BUCKET_INDEX = "by-bucket"
# A record's `health.status`, as the health check writes it (contracts.health).
HEALTH_STATUSES: tuple[HealthStatus, ...] = ("HEALTHY", "DEGRADED", "BROKEN")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def table_name() -> str:
    return os.environ["CONNECTIONS_TABLE"]


def event_bus_name() -> str:
    return os.environ["EVENT_BUS_NAME"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _storable(value: Any) -> Any:
    """DynamoDB takes numbers as Decimal only (a float would be refused by the serializer)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def serialize(value: Any) -> Any:
    return _serializer.serialize(_storable(value))


def to_item(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: serialize(value) for key, value in record.items() if value is not None}


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


def get(dynamodb: DynamoDBClient, connection_id: str, table: str | None = None) -> Record | None:
    item = dynamodb.get_item(
        TableName=table or table_name(), Key={"connection_id": {"S": connection_id}}, ConsistentRead=True
    ).get("Item")
    return cast("Record", from_item(item)) if item else None


def claim(dynamodb: DynamoDBClient, record: Mapping[str, Any], table: str | None = None) -> None:
    """Write a PROVISIONING record unless another run holds this id (the same execution may re-claim).

    `record`: a Record's fields but its status, which the claim sets."""
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
        current: Mapping[str, Any] = get(dynamodb, record["connection_id"], table) or {}
        raise ConnectionAlreadyExists(
            f"connection_id: {record['connection_id']!r} is already {current.get('status', 'taken')} "
            f"(execution {current.get('execution_arn', 'unknown')}); offboard it or choose another id"
        ) from None


def update(
    dynamodb: DynamoDBClient,
    connection_id: str,
    changes: dict[str, Any],
    *,
    owner_field: str,
    owner: str,
    remove: tuple[str, ...] = (),
    also: dict[str, str] | None = None,
    table: str | None = None,
) -> Record:
    """Set `changes` on the record, only while `owner_field` still names this run (and every field in
    `also` still has its value). Returns the new record."""
    changes = {**changes, "updated_at": now()}
    names = {f"#f{i}": key for i, key in enumerate(changes)}
    sets = [f"#f{i} = :v{i}" for i in range(len(changes))]
    values = {f":v{i}": serialize(value) for i, value in enumerate(changes.values())}
    names["#owner"] = owner_field
    values[":owner"] = _serializer.serialize(owner)
    conditions = ["#owner = :owner"]
    for i, (field, value) in enumerate((also or {}).items()):
        names[f"#a{i}"] = field
        values[f":a{i}"] = serialize(value)
        conditions.append(f"#a{i} = :a{i}")
    expression = "SET " + ", ".join(sets)
    if remove:
        names.update({f"#r{i}": key for i, key in enumerate(remove)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    try:
        response = dynamodb.update_item(
            TableName=table or table_name(),
            Key={"connection_id": {"S": connection_id}},
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions),
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
    return cast("Record", from_item(response["Attributes"]))


def list_page(
    dynamodb: DynamoDBClient,
    *,
    bucket: str | None,
    status: str | None,
    limit: int,
    next_token: str | None,
    table: str | None = None,
    health: str | None = None,
) -> tuple[list[Record], str | None]:
    """One page of connections, newest record format, optionally of one bucket, one status and/or one
    health status (`health.status`; a record never checked has none, so it matches no health filter)."""
    kwargs: dict[str, Any] = {"TableName": table or table_name(), "Limit": limit}
    if next_token:
        kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(next_token.encode()))
    filters: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if status:
        filters.append("#status = :status")
        names["#status"] = "status"
        values[":status"] = {"S": status}
    if health:
        filters.append("#health.#status = :health")
        names.update({"#health": "health", "#status": "status"})
        values[":health"] = {"S": health}
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = values
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
    return [cast("Record", from_item(i)) for i in page.get("Items", [])], encoded
