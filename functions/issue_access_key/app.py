"""Issue access key: create the user's key and put it straight into Secrets Manager.

The secret access key lives only in this invocation's memory and in the secret; the step returns its ARN.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, ownership_tags
from provisioner_core.errors import SecretAlreadyExists
from provisioner_core.step import aws_failure, translate_aws_errors

logger = Logger()
SETTINGS = Settings.from_env()


def issue_access_key(iam: Any, secrets: Any, connection: Connection, kms_key_arn: str = "") -> dict[str, str]:
    key = iam.create_access_key(UserName=connection["iam_user_name"])["AccessKey"]
    value = {
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "bucket": connection["bucket"],
        "prefix": connection["prefix"],
        "s3_uri": connection["s3_uri"],
        "region": connection["region"],
    }
    try:
        secret = secrets.create_secret(
            Name=connection["secret_name"],
            Description=f"Labellerr connection {connection['connection_id']} (s3://{connection['s3_uri']})",
            SecretString=json.dumps(value),
            Tags=ownership_tags(connection),
            **({"KmsKeyId": kms_key_arn} if kms_key_arn else {}),
        )
    except ClientError as error:
        # A key nobody can read is an orphan: take it back before failing.
        iam.delete_access_key(UserName=connection["iam_user_name"], AccessKeyId=key["AccessKeyId"])
        if aws.error_code(error) == "ResourceExistsException":
            raise SecretAlreadyExists(
                f"secret {connection['secret_name']!r} already exists; the new access key was deleted"
            ) from None
        raise aws_failure(error) from None
    return {
        "access_key_id": key["AccessKeyId"],
        "secret_arn": secret["ARN"],
        "secret_name": connection["secret_name"],
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    result = issue_access_key(
        aws.client("iam"), aws.client("secretsmanager"), event["connection"], SETTINGS.secrets_kms_key_arn
    )
    logger.info("Access key issued", access_key_id=result["access_key_id"], secret_arn=result["secret_arn"])
    return result
