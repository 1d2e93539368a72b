"""Deactivate old key: the consumer uses the new key, so the old one stops working, but is kept for the grace
period, when POST .../rotations/{rotation_id}/rollback can still bring it back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry, rotation
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient

    from provisioner_core.contracts.run_state import RotationStepEvent
    from provisioner_core.contracts.step_results import Deactivation, RotationStarted

logger = Logger()


def deactivate_old_key(
    iam: IAMClient, dynamodb: DynamoDBClient, started: RotationStarted, execution_arn: str
) -> Deactivation:
    iam.update_access_key(
        UserName=started["connection"]["iam_user_name"],
        AccessKeyId=started["old_access_key_id"],
        Status="Inactive",
    )
    deactivated_at = registry.now()
    rotation.update(
        dynamodb,
        started["connection_id"],
        execution_arn,
        {"stage": "OLD_KEY_INACTIVE", "deactivated_at": deactivated_at},
    )
    return {"deactivated_at": deactivated_at}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RotationStepEvent, context: LambdaContext) -> Deactivation:
    result = deactivate_old_key(
        aws.client("iam"), aws.client("dynamodb"), event["rotation"], event["execution_arn"]
    )
    logger.info("Old key deactivated", old_access_key_id=event["rotation"]["old_access_key_id"])
    return result
