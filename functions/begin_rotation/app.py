"""Begin rotation: mark an ACTIVE connection ROTATING for this run, or say as data why it cannot be.

The record keeps the old key's id and the secret version holding it, so every later step (and the undo)
knows what to restore. A user already holding two keys is refused here, before anything changes: IAM allows
two per user, and a rotation never deletes an active key to make room.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry, rotation
from provisioner_core.connection_id_request import connection_id_of
from provisioner_core.errors import (
    ConnectionBusy,
    ConnectionNotFound,
    InvalidRequest,
    RotationNotAllowed,
    TooManyAccessKeys,
)
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.records import Record
    from provisioner_core.contracts.run_state import BeginRotationEvent
    from provisioner_core.contracts.step_results import RotationBegun

logger = Logger()
MAX_KEYS_PER_USER = 2


def refusal(connection_id: Any, error: Exception) -> RotationBegun:
    cause: dict[str, Any] = {
        "failed_step": "Begin rotation",
        "error": type(error).__name__,
        "message": str(error),
    }
    if isinstance(error, InvalidRequest):
        cause["errors"] = error.errors
    return {
        "connection_id": connection_id if isinstance(connection_id, str) else None,
        "refused": True,
        "error": f"BeginRotation.{type(error).__name__}",
        "cause": json.dumps(cause, separators=(",", ":")),
    }


def _started(record: Record, timing: rotation.RotationTiming) -> RotationBegun:
    state = record["rotation"]
    return {
        "connection_id": record["connection_id"],
        "refused": False,
        "rotation_id": state["rotation_id"],
        "started_at": state["started_at"],
        "old_access_key_id": state["old_access_key_id"],
        "old_version_id": state["old_version_id"],
        "secret_arn": record["secret_arn"],
        "connection": rotation.connection_from_record(record),
        "cors": record.get("cors") or {},
        "labellerr": record.get("labellerr") or {"registered": False, "labellerr_connection_ids": []},
        "timing": timing.as_state(),
    }


def begin_rotation(
    dynamodb: DynamoDBClient,
    iam: IAMClient,
    secrets: SecretsManagerClient,
    request: Any,
    execution_arn: str,
    rotation_id: str,
    timing: rotation.RotationTiming,
) -> RotationBegun:
    raw_id = request.get("connection_id") if isinstance(request, dict) else None
    try:
        connection_id = connection_id_of(request)
        record = registry.get(dynamodb, connection_id)
        if record is None:
            raise ConnectionNotFound(f"connection_id: no connection {connection_id!r}")
        if record["status"] == rotation.ROTATING and record.get(rotation.HOLDER_FIELD) == execution_arn:
            return _started(record, timing)  # A retry of this step: the claim is already ours.
        if record["status"] != "ACTIVE":
            raise RotationNotAllowed(
                f"connection {connection_id!r} is {record['status']}; "
                "only an ACTIVE connection's key can be rotated"
            )
        old_key = str(record["access_key_id"])
        keys = [
            k["AccessKeyId"]
            for k in iam.list_access_keys(UserName=record["iam_user_name"])["AccessKeyMetadata"]
        ]
        if old_key not in keys:
            raise RotationNotAllowed(
                f"the connection's key {old_key} is no longer on user {record['iam_user_name']}; "
                f"offboard the connection (DELETE /connections/{connection_id}) and onboard it again"
            )
        if len(keys) >= MAX_KEYS_PER_USER:
            others = ", ".join(k for k in keys if k != old_key)
            raise TooManyAccessKeys(
                f"user {record['iam_user_name']} already holds {len(keys)} access keys "
                f"({old_key}, {others}); "
                "IAM allows two and a rotation never deletes an active key to make room: delete the key "
                "nobody uses, then start the rotation again"
            )
        old_version = rotation.version_with(
            rotation.version_stages(secrets, record["secret_arn"]), "AWSCURRENT"
        )
        state = {
            "rotation_id": rotation_id,
            "execution_arn": execution_arn,
            "stage": "STARTED",
            "started_at": registry.now(),
            "old_access_key_id": old_key,
            "old_version_id": old_version,
            "keys_at_start": keys,
            **{k: v for k, v in timing.as_state().items() if k in ("adoption_days", "grace_days")},
        }
        claimed = registry.update(
            dynamodb,
            connection_id,
            {"status": rotation.ROTATING, rotation.HOLDER_FIELD: execution_arn, "rotation": state},
            owner_field="status",
            owner="ACTIVE",
            # An earlier rotation's confirmation or rollback request stays: each names its rotation id.
            also={"updated_at": str(record.get("updated_at", ""))},
        )
    except (
        InvalidRequest,
        ConnectionNotFound,
        ConnectionBusy,
        RotationNotAllowed,
        TooManyAccessKeys,
    ) as error:
        return refusal(raw_id, error)
    return _started(claimed, timing)


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: BeginRotationEvent, context: LambdaContext) -> RotationBegun:
    result = begin_rotation(
        aws.client("dynamodb"),
        aws.client("iam"),
        aws.client("secretsmanager"),
        event.get("request"),
        event["execution_arn"],
        event["rotation_id"],
        rotation.RotationTiming.from_env(),
    )
    logger.info("Rotation begun", connection_id=result["connection_id"], refused=result["refused"])
    return result
