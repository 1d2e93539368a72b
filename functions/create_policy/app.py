"""Create policy: the bucket-scoped managed policy, on the provisioner's path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, cleanup
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, made_by, ownership_tags
from provisioner_core.errors import InvalidRequest, PolicyAlreadyExists
from provisioner_core.naming import bucket_name_problem, normalize_prefix
from provisioner_core.policy import (
    connection_policy_document,
    escape_beyond_latin_1,
    serialize_policy,
)
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import PolicyTypeDef

    from provisioner_core.contracts.run_state import ConnectionEvent
    from provisioner_core.contracts.step_results import CreatedPolicy

logger = Logger()
SETTINGS = Settings.from_env()


def adopt_own_policy(iam: IAMClient, connection: Connection, settings: Settings) -> PolicyTypeDef:
    """A retried invocation of this same execution finds its own policy; anything else is not ours."""
    arn = cleanup.policy_arn(
        settings.partition, connection["execution_arn"], connection["iam_path"], connection["policy_name"]
    )
    if not made_by(iam.list_policy_tags(PolicyArn=arn)["Tags"], connection["execution_arn"]):
        raise PolicyAlreadyExists(
            f"IAM policy {connection['policy_name']!r} already exists on path {connection['iam_path']}; "
            "choose another connection_id or remove the old connection first"
        )
    return {"PolicyName": connection["policy_name"], "Arn": arn}


def recheck_location(connection: Connection) -> None:
    """The policy is built from this step's own input: a bucket of `*` would grant `arn:aws:s3:::*/*`,
    capped only by the boundary. So the request model's rules are applied again here, where it matters."""
    problems = []
    if problem := bucket_name_problem(connection["bucket"]):
        problems.append({"field": "bucket", "message": problem})
    try:
        if normalize_prefix(connection["prefix"]) != connection["prefix"]:
            problems.append({"field": "prefix", "message": "is not in its normalized form"})
    except ValueError as error:
        problems.append({"field": "prefix", "message": str(error)})
    if problems:
        raise InvalidRequest(problems)


def create_policy(iam: IAMClient, connection: Connection, settings: Settings) -> CreatedPolicy:
    recheck_location(connection)
    document = serialize_policy(
        connection_policy_document(
            connection,
            partition=settings.partition,
            # Same-account stack: the execution runs in the account that owns the allowed buckets.
            account_id=connection["execution_arn"].split(":")[4],
        )
    )
    try:
        policy = iam.create_policy(
            PolicyName=connection["policy_name"],
            Path=connection["iam_path"],
            PolicyDocument=document,
            # IAM documents no character rule for a description; kept to the documents' Latin-1, a prefix
            # such as 画像/ cannot make CreatePolicy fail whichever rule IAM applies.
            Description=escape_beyond_latin_1(
                f"Labellerr connection {connection['connection_id']}: {connection['access']} "
                f"on s3://{connection['s3_uri']}"
            )[:1000],
            Tags=ownership_tags(connection),
        )["Policy"]
    except iam.exceptions.EntityAlreadyExistsException:
        policy = adopt_own_policy(iam, connection, settings)
    return {"policy_name": policy["PolicyName"], "policy_arn": policy["Arn"], "document_chars": len(document)}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: ConnectionEvent, context: LambdaContext) -> CreatedPolicy:
    policy = create_policy(aws.client("iam"), event["connection"], SETTINGS)
    logger.info("Policy created", policy_arn=policy["policy_arn"])
    return policy
