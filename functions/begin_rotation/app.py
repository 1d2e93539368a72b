"""Begin rotation: mark an ACTIVE connection ROTATING for this run, or say as data why it cannot be.

The record keeps the old key's id, its status (Active, or Inactive when a person had deactivated it) and the
secret version holding it, so every later step (and the undo, also when retried) knows what to restore. A
user already holding two keys is refused here, before anything changes: IAM allows two per user, and a
rotation never deletes an active key to make room. So is a connection whose user or secret is gone (deleted
by hand, or the secret scheduled for deletion): refused by that name, with the event, never taken for a
registry failure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, registry, rotation
from provisioner_core.connection_id_request import connection_id_of
from provisioner_core.errors import (
    ConnectionBusy,
    ConnectionNotFound,
    InvalidRequest,
    RotationNotAllowed,
    SecretGone,
    TooManyAccessKeys,
    UserGone,
)
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import AccessKeyMetadataTypeDef
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.records import Record
    from provisioner_core.contracts.run_state import BeginRotationEvent
    from provisioner_core.contracts.step_results import RotationBegun

logger = Logger()
MAX_KEYS_PER_USER = 2
# What IAM answers for a user that does not exist: NoSuchEntity, or AccessDenied for a role scoped to our
# path and tags (a user that does not exist has neither, so the role's statement cannot match it).
USER_GONE_CODES = frozenset({"NoSuchEntity", "AccessDenied"})


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


def _aws_answer(error: ClientError) -> str:
    return f"{aws.error_code(error)}: {error.response.get('Error', {}).get('Message', '')}"


def access_keys_of(iam: IAMClient, connection_id: str, user_name: str) -> list[AccessKeyMetadataTypeDef]:
    try:
        return list(iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"])
    except ClientError as error:
        if aws.error_code(error) not in USER_GONE_CODES:
            raise
        raise UserGone(
            f"the connection's user {user_name} is gone (deleted, or no longer tagged as ours), so its key "
            f"cannot be rotated (iam:ListAccessKeys answered {_aws_answer(error)}); offboard the connection "
            f"(DELETE /connections/{connection_id}) and onboard it again"
        ) from None


def current_version(secrets: SecretsManagerClient, connection_id: str, secret_arn: str) -> str | None:
    """The secret's version staged AWSCURRENT; SecretGone when the secret is deleted or on its way out."""
    try:
        described = secrets.describe_secret(SecretId=secret_arn)
    except ClientError as error:
        if aws.error_code(error) != "ResourceNotFoundException":
            raise
        raise SecretGone(
            f"the connection's secret {secret_arn} is gone (secretsmanager:DescribeSecret answered "
            f"{_aws_answer(error)}); offboard the connection (DELETE /connections/{connection_id}) and "
            "onboard it again"
        ) from None
    if described.get("DeletedDate"):
        raise SecretGone(
            f"the connection's secret {secret_arn} is scheduled for deletion (since "
            f"{described['DeletedDate']}); restore it (RestoreSecret) and start the rotation again, or "
            f"offboard the connection (DELETE /connections/{connection_id})"
        )
    stages = {v: list(s) for v, s in (described.get("VersionIdsToStages") or {}).items() if s}
    return rotation.version_with(stages, "AWSCURRENT")


def _started(record: Record, timing: rotation.RotationTiming) -> RotationBegun:
    state = record["rotation"]
    return {
        "connection_id": record["connection_id"],
        "refused": False,
        "rotation_id": state["rotation_id"],
        "started_at": state["started_at"],
        "old_access_key_id": state["old_access_key_id"],
        "old_version_id": state["old_version_id"],
        # Absent in a record begun before the status was kept: such an old key was Active.
        "old_key_status": state.get("old_key_status", "Active"),
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
        listed = access_keys_of(iam, connection_id, record["iam_user_name"])
        keys = [k["AccessKeyId"] for k in listed]
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
        old_version = current_version(secrets, connection_id, record["secret_arn"])
        state = {
            "rotation_id": rotation_id,
            "execution_arn": execution_arn,
            "stage": "STARTED",
            "started_at": registry.now(),
            "old_access_key_id": old_key,
            "old_version_id": old_version,
            # As it was before the rotation touched it: the undo puts it back exactly so.
            "old_key_status": next(k["Status"] for k in listed if k["AccessKeyId"] == old_key),
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
        UserGone,
        SecretGone,
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
