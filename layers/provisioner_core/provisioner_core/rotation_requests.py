"""The HTTP API's side of key rotation: start one, confirm the consumer's adoption, ask for a rollback, and
each key's id, age and last use for GET. The state machine does the work; these only start it or leave it a
signal in the record (fields no step writes), which its Wait loops read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core import registry, rotation
from provisioner_core.aws import error_code
from provisioner_core.errors import ConnectionBusy, ConnectionNotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_stepfunctions import SFNClient

    from provisioner_core.contracts.records import Record

# When a confirmation can still matter, and when a rollback can still be carried out.
CONFIRMABLE = ("NEW_KEY_ISSUED", "HANDED_OVER", "PROMOTED", "ADOPTED")
ROLLBACK_STAGES = ("OLD_KEY_INACTIVE",)


def rotation_name(connection_id: str) -> str:
    """The execution's name, which is the rotation's id: the connection, then a random part (≤ 80 chars)."""
    return f"{connection_id}-rotation-{uuid.uuid4().hex[:12]}"[-80:]


def start_rotation(
    dynamodb: DynamoDBClient, sfn: SFNClient, connection_id: str, state_machine_arn: str
) -> dict[str, Any]:
    """Start a rotation of an ACTIVE connection (409 otherwise). Begin rotation's conditional claim decides
    between two rotations started at once: the other ends refused, having changed nothing."""
    record = registry.get(dynamodb, connection_id)
    if record is None:
        raise ConnectionNotFound(f"no connection {connection_id!r}")
    if record["status"] != "ACTIVE":
        held: Mapping[str, Any] = record.get("rotation") or {}
        extra = f" (rotation {held.get('rotation_id')})" if record["status"] == rotation.ROTATING else ""
        raise ConnectionBusy(
            f"connection {connection_id!r} is {record['status']}{extra}; "
            "only an ACTIVE connection's key can be rotated"
        )
    name = rotation_name(connection_id)
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps({"connection_id": connection_id})
    )
    return {
        "connection_id": connection_id,
        "rotation_id": name,
        "status": "ROTATION_STARTED",
        "execution_arn": started["executionArn"],
    }


def _current_rotation(dynamodb: DynamoDBClient, connection_id: str, rotation_id: str) -> Record:
    record = registry.get(dynamodb, connection_id)
    if record is None:
        raise ConnectionNotFound(f"no connection {connection_id!r}")
    held: Mapping[str, Any] = record.get("rotation") or {}
    if held.get("rotation_id") != rotation_id:
        raise ConnectionNotFound(f"rotation_id: connection {connection_id!r} has no rotation {rotation_id!r}")
    return record


def _signal(
    dynamodb: DynamoDBClient,
    connection_id: str,
    rotation_id: str,
    field: str,
    allowed: tuple[str, ...],
    what: str,
) -> dict[str, Any]:
    record = _current_rotation(dynamodb, connection_id, rotation_id)
    held = record["rotation"]
    if record["status"] != rotation.ROTATING or held.get("stage") not in allowed:
        raise ConnectionBusy(
            f"rotation {rotation_id!r} is at stage {held.get('stage')} (connection {record['status']}); "
            f"{what} is possible at stage {' or '.join(allowed)}"
        )
    at = registry.now()
    try:
        registry.update(
            dynamodb,
            connection_id,
            {field: {"rotation_id": rotation_id, "at": at}},
            owner_field=rotation.HOLDER_FIELD,
            owner=str(held.get("execution_arn")),
            also={"status": rotation.ROTATING},
        )
    except ConnectionBusy:
        raise ConnectionBusy(
            f"rotation {rotation_id!r} ended while the request was made; GET shows how"
        ) from None
    return {
        "connection_id": connection_id,
        "rotation_id": rotation_id,
        "stage": held.get("stage"),
        "requested_at": at,
    }


def confirm_rotation(dynamodb: DynamoDBClient, connection_id: str, rotation_id: str) -> dict[str, Any]:
    """The consumer says it uses the new key: the next adoption check deactivates the old one."""
    return _signal(
        dynamodb, connection_id, rotation_id, rotation.CONFIRMATION_FIELD, CONFIRMABLE, "confirming"
    )


def request_rollback(dynamodb: DynamoDBClient, connection_id: str, rotation_id: str) -> dict[str, Any]:
    """During the grace period: the next check re-activates the old key, makes it current, deletes the new."""
    return _signal(
        dynamodb, connection_id, rotation_id, rotation.ROLLBACK_REQUEST_FIELD, ROLLBACK_STAGES, "a rollback"
    )


def key_details(
    iam: IAMClient, record: Mapping[str, Any], now: datetime | None = None
) -> list[dict[str, Any]] | None:
    """Each access key of the connection's user: id, status, age, last use; None when IAM cannot say."""
    user_name = record.get("iam_user_name")
    if record.get("status") in ("DELETED", "FAILED") or not user_name:
        return None
    now = now or datetime.now(UTC)
    try:
        keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
        details = []
        for key in keys:
            last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed") or {}
            used = last.get("LastUsedDate")
            details.append(
                {
                    "access_key_id": key["AccessKeyId"],
                    "status": key["Status"],
                    "current": key["AccessKeyId"] == record.get("access_key_id"),
                    "created_at": key["CreateDate"].isoformat(),
                    "age_days": round((now - key["CreateDate"]).total_seconds() / 86400, 2),
                    "last_used_at": used.isoformat() if isinstance(used, datetime) else None,
                    "last_used_service": last.get("ServiceName") if used else None,
                }
            )
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return []
        return None
    return details
