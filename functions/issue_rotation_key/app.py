"""Issue rotation key: the user's second access key, written straight into the connection's secret as a new
version staged AWSPENDING; the old key's version stays AWSCURRENT, so every consumer keeps working.

Idempotent for its own execution, also after a lost reply: a pending version that holds a key still on the
user is this rotation's; a key that is neither the old one nor held by the pending version was made by an
earlier attempt of this step (Begin rotation proved the user held only the old key, and the key is newer than
the rotation) and is deleted.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, rotation
from provisioner_core.connection import Connection
from provisioner_core.errors import TooManyAccessKeys
from provisioner_core.key_secret import key_secret_string
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.run_state import IssueRotationKeyEvent
    from provisioner_core.contracts.step_results import RotationKey, RotationStarted

logger = Logger()
PENDING = "AWSPENDING"


def _issued(access_key_id: str, secret_arn: str, version_id: str) -> RotationKey:
    return {
        "access_key_id": access_key_id,
        "secret_arn": secret_arn,
        "version_id": version_id,
        "version_stage": PENDING,
    }


def issue_rotation_key(
    iam: IAMClient,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    connection: Connection,
    started: RotationStarted,
    execution_arn: str,
) -> RotationKey:
    user_name = connection["iam_user_name"]
    secret_arn = started["secret_arn"]
    old_key = started["old_access_key_id"]
    listed = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    keys = [k["AccessKeyId"] for k in listed]
    pending_version = rotation.version_with(rotation.version_stages(secrets, secret_arn), PENDING)
    held = rotation.key_id_in_version(secrets, secret_arn, pending_version) if pending_version else None
    if pending_version and held in keys and held != old_key:
        issued = _issued(str(held), secret_arn, pending_version)
    else:
        for key in listed:
            if key["AccessKeyId"] == old_key:
                continue
            if not rotation.made_during(key, started):
                # Older than this rotation: somebody else's key, never deleted to make room.
                raise TooManyAccessKeys(
                    f"user {user_name} got another access key ({key['AccessKeyId']}) before this rotation "
                    "made its own; delete the key nobody uses and rotate again"
                )
            iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
        if old_key not in keys:
            raise TooManyAccessKeys(f"the old key {old_key} left user {user_name} during the rotation")
        new_key = iam.create_access_key(UserName=user_name)["AccessKey"]
        # A failure below leaves the key on the user; the retry above, or Undo rotation, removes it.
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{execution_arn}#{new_key['AccessKeyId']}"))
        secrets.put_secret_value(
            SecretId=secret_arn,
            ClientRequestToken=token,
            SecretString=key_secret_string(new_key["AccessKeyId"], new_key["SecretAccessKey"], connection),
            VersionStages=[PENDING],
        )
        issued = _issued(new_key["AccessKeyId"], secret_arn, token)
    rotation.update(
        dynamodb,
        connection["connection_id"],
        execution_arn,
        {
            "stage": "NEW_KEY_ISSUED",
            "new_access_key_id": issued["access_key_id"],
            "new_version_id": issued["version_id"],
        },
    )
    return issued


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: IssueRotationKeyEvent, context: LambdaContext) -> RotationKey:
    result = issue_rotation_key(
        aws.client("iam"),
        aws.client("secretsmanager"),
        aws.client("dynamodb"),
        event["connection"],
        event["rotation"],
        event["execution_arn"],
    )
    logger.info("Rotation key issued", access_key_id=result["access_key_id"], version_id=result["version_id"])
    return result
