"""Delete old key: the grace period is over and nobody asked for the old key back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, registry, rotation
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient

    from provisioner_core.contracts.run_state import RotationStepEvent
    from provisioner_core.contracts.step_results import OldKeyDeletion, RotationStarted

logger = Logger()


def delete_old_key(
    iam: IAMClient, dynamodb: DynamoDBClient, started: RotationStarted, execution_arn: str
) -> OldKeyDeletion:
    try:
        iam.delete_access_key(
            UserName=started["connection"]["iam_user_name"], AccessKeyId=started["old_access_key_id"]
        )
    except ClientError as error:
        # An earlier attempt deleted it and lost the reply: gone is what this step wants.
        if aws.error_code(error) != "NoSuchEntity":
            raise
    deleted_at = registry.now()
    rotation.update(dynamodb, started["connection_id"], execution_arn, {"old_key_deleted_at": deleted_at})
    return {"deleted_at": deleted_at}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RotationStepEvent, context: LambdaContext) -> OldKeyDeletion:
    result = delete_old_key(
        aws.client("iam"), aws.client("dynamodb"), event["rotation"], event["execution_arn"]
    )
    logger.info("Old key deleted", old_access_key_id=event["rotation"]["old_access_key_id"])
    return result
