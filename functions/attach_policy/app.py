"""Attach policy: the connection's policy to the connection's user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from provisioner_core.contracts.run_state import AttachPolicyEvent
    from provisioner_core.contracts.step_results import Attachment

logger = Logger()


def attach_policy(iam: IAMClient, user_name: str, policy_arn: str) -> Attachment:
    # Attaching twice is a no-op in IAM, so a retried invocation is harmless.
    iam.attach_user_policy(UserName=user_name, PolicyArn=policy_arn)
    return {"user_name": user_name, "policy_arn": policy_arn}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: AttachPolicyEvent, context: LambdaContext) -> Attachment:
    attachment = attach_policy(aws.client("iam"), event["user"]["user_name"], event["policy"]["policy_arn"])
    logger.info("Policy attached", user_name=attachment["user_name"], policy_arn=attachment["policy_arn"])
    return attachment
