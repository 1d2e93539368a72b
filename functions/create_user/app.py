"""Create user: the connection's IAM user, on the provisioner's path, tagged with this execution.

The fence tags (provisioner_core.fence) are set here, with the user, and never again: the boundary reads
them to cap the user to its bucket and prefix, and the guardrail denies any provisioner role changing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, made_by, ownership_tags
from provisioner_core.errors import UserAlreadyExists
from provisioner_core.fence import fence_tags
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from provisioner_core.contracts.run_state import ConnectionEvent
    from provisioner_core.contracts.step_results import CreatedUser

logger = Logger()
SETTINGS = Settings.from_env()


def create_user(iam: IAMClient, connection: Connection, settings: Settings) -> CreatedUser:
    name = connection["iam_user_name"]
    # The role may only create users that carry the stack's boundary: a key can never outgrow it.
    boundary = settings.permissions_boundary_arn
    try:
        user = iam.create_user(
            UserName=name,
            Path=connection["iam_path"],
            Tags=[*ownership_tags(connection), *fence_tags(connection["bucket"], connection["prefix"])],
            **({"PermissionsBoundary": boundary} if boundary else {}),
        )["User"]
    except iam.exceptions.EntityAlreadyExistsException:
        # A retried invocation of this same execution finds its own user; anything else is not ours.
        tags = iam.list_user_tags(UserName=name)["Tags"]
        if not made_by(tags, connection["execution_arn"]):
            raise UserAlreadyExists(
                f"IAM user {name!r} already exists and was not created by this execution; "
                "choose another connection_id or remove the old connection first"
            ) from None
        user = iam.get_user(UserName=name)["User"]
    return {"user_name": user["UserName"], "user_arn": user["Arn"]}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: ConnectionEvent, context: LambdaContext) -> CreatedUser:
    user = create_user(aws.client("iam"), event["connection"], SETTINGS)
    logger.info("IAM user created", user_arn=user["user_arn"])
    return user
