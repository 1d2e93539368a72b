"""Issue access key: create the user's key and put it straight into Secrets Manager.

The secret access key lives only in this invocation's memory and in the secret; the step returns its ARN.
Idempotent for its own execution, also when an earlier attempt's CreateAccessKey or CreateSecret took
effect and its reply was lost: the secret this execution wrote is found by name and tag, and a key on the
user that no secret holds (which nobody can ever read) is deleted before a new one is made.

Secrets Manager deletes asynchronously, also with ForceDeleteWithoutRecovery: right after an offboarding or a
rollback of the same connection id, the old secret may still hold the name (DescribeSecret shows DeletedDate,
CreateSecret answers InvalidRequestException). That is SecretNameNotYetFree, which the state machine retries
with backoff; the old secret is never read or reused.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, made_by, ownership_tags
from provisioner_core.errors import SecretAlreadyExists, SecretNameNotYetFree
from provisioner_core.key_secret import key_secret_string
from provisioner_core.registry import now
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import AccessKeyTypeDef
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import CreateSecretRequestTypeDef
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef as SecretTagTypeDef

    from provisioner_core.contracts.run_state import IssueAccessKeyEvent
    from provisioner_core.contracts.step_results import IssuedKey

logger = Logger()
SETTINGS = Settings.from_env()
# CreateSecret's answer while a secret of the name is scheduled for deletion (Secrets Manager API reference).
SCHEDULED_FOR_DELETION = "scheduled for deletion"


def not_yet_free(connection: Connection) -> SecretNameNotYetFree:
    return SecretNameNotYetFree(
        f"secret {connection['secret_name']!r} is still being deleted (a recent offboarding or rollback); "
        "Secrets Manager frees the name once its deletion finishes. If it stays, it was deleted with a "
        "recovery window: restore it, or delete it with --force-delete-without-recovery"
    )


def existing_secret(secrets: SecretsManagerClient, connection: Connection) -> dict[str, Any] | None:
    """This execution's secret when an earlier attempt wrote it; SecretAlreadyExists for anybody else's."""
    try:
        described = secrets.describe_secret(SecretId=connection["secret_name"])
    except ClientError as error:
        if aws.error_code(error) == "ResourceNotFoundException":
            return None
        raise
    if described.get("DeletedDate"):
        raise not_yet_free(connection)
    if not made_by(described.get("Tags", []), connection["execution_arn"]):
        raise SecretAlreadyExists(
            f"secret {connection['secret_name']!r} already exists and was not created by this execution; "
            "remove the old connection first"
        )
    return dict(described)


def delete_keys_except(iam: IAMClient, user_name: str, keep: str | None) -> None:
    """The user is this execution's (Create user proved it): a key not in its secret is an orphan."""
    for key in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]:
        if key["AccessKeyId"] != keep:
            iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])


def secret_value(key: AccessKeyTypeDef, connection: Connection) -> str:
    return key_secret_string(key["AccessKeyId"], key["SecretAccessKey"], connection)


def issue_access_key(
    iam: IAMClient,
    secrets: SecretsManagerClient,
    connection: Connection,
    kms_key_arn: str = "",
    *,
    retry_count: int = 1,
) -> IssuedKey:
    """`retry_count` is the state's own ($$.State.RetryCount): only a retry can find an earlier attempt's
    key or secret, so the first attempt skips the two look-ups. `issued_at` starts the clock of the
    SecondsToVerifiedKey metric."""
    user_name = connection["iam_user_name"]
    secret = existing_secret(secrets, connection) if retry_count else None
    if secret is not None:
        held = json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"])["access_key_id"]
        user_keys = {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]}
        if held in user_keys:
            delete_keys_except(iam, user_name, held)
            return {
                "access_key_id": held,
                "secret_arn": secret["ARN"],
                "secret_name": connection["secret_name"],
                "issued_at": now(),
            }
        # The secret holds a key that is gone: make a new one and store it as the secret's new version.
        delete_keys_except(iam, user_name, None)
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        secrets.put_secret_value(SecretId=secret["ARN"], SecretString=secret_value(key, connection))
        return {
            "access_key_id": key["AccessKeyId"],
            "secret_arn": secret["ARN"],
            "secret_name": connection["secret_name"],
            "issued_at": now(),
        }

    if retry_count:
        delete_keys_except(iam, user_name, None)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    # A failure here leaves the key on the user; the retry above, or rollback, removes it.
    request: CreateSecretRequestTypeDef = {
        "Name": connection["secret_name"],
        "Description": f"Labellerr connection {connection['connection_id']} (s3://{connection['s3_uri']})",
        "SecretString": secret_value(key, connection),
        # IAM's tags (Key, Value), which Secrets Manager's are too.
        "Tags": cast("list[SecretTagTypeDef]", ownership_tags(connection)),
    }
    if kms_key_arn:
        request["KmsKeyId"] = kms_key_arn
    try:
        created = secrets.create_secret(**request)
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if aws.error_code(error) == "InvalidRequestException" and SCHEDULED_FOR_DELETION in message:
            # The key just made stays on the user: the retry's look-up deletes it before making another.
            raise not_yet_free(connection) from None
        if aws.error_code(error) != "ResourceExistsException" or retry_count:
            raise
        # Another connection's secret (a retry would have found this execution's own above).
        raise SecretAlreadyExists(
            f"secret {connection['secret_name']!r} already exists and was not created by this execution; "
            "remove the old connection first"
        ) from None
    return {
        "access_key_id": key["AccessKeyId"],
        "secret_arn": created["ARN"],
        "secret_name": connection["secret_name"],
        "issued_at": now(),
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: IssueAccessKeyEvent, context: LambdaContext) -> IssuedKey:
    result = issue_access_key(
        aws.client("iam"),
        aws.client("secretsmanager"),
        event["connection"],
        SETTINGS.secrets_kms_key_arn,
        retry_count=int(event.get("retry_count", 1)),
    )
    logger.info("Access key issued", access_key_id=result["access_key_id"], secret_arn=result["secret_arn"])
    return result
