"""Remove connection: delete what a connection owns, proven by its connection-id tag.

Idempotent (NotFound means done), so a retried or resumed offboarding finishes what an earlier one left.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, cleanup
from provisioner_core.config import CORS_RULE_ID, TAG_CONNECTION_ID, Settings
from provisioner_core.step import translate_aws_errors

logger = Logger()
SETTINGS = Settings.from_env()


def tagged_for(connection_id: str) -> cleanup.Owned:
    return lambda tags: any(
        t.get("Key") == TAG_CONNECTION_ID and t.get("Value") == connection_id for t in tags
    )


def relied_on_our_cors_rule(connection: dict[str, Any]) -> bool:
    """A rule the connection found under another ID is the customer's, never ours to remove."""
    cors = connection.get("cors") or {}
    return bool(cors.get("applied")) and cors.get("rule_id") == CORS_RULE_ID


def remove_connection(
    iam: Any, s3: Any, secrets: Any, dynamodb: Any, connection: dict[str, Any], execution_arn: str
) -> dict[str, Any]:
    ledger = cleanup.Ledger(f"connection {connection['connection_id']}")
    footprint = cleanup.Footprint(
        user_name=connection["iam_user_name"],
        secret_name=connection["secret_name"],
        policy_arn=connection.get("policy_arn")
        or cleanup.policy_arn(
            SETTINGS.partition, execution_arn, connection["iam_path"], connection["policy_name"]
        ),
        bucket=connection["bucket"],
        remove_cors_rule=(
            (
                lambda: cleanup.remove_shared_cors_rule(
                    s3, dynamodb, connection["bucket"], connection["connection_id"], execution_arn
                )
            )
            if relied_on_our_cors_rule(connection)
            else None
        ),
    )
    cleanup.remove_footprint(iam, s3, secrets, footprint, tagged_for(connection["connection_id"]), ledger)
    ledger.raise_if_incomplete()
    return {"removed": ledger.removed, "not_touched": ledger.untouched}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = remove_connection(
        aws.client("iam"),
        aws.client("s3"),
        aws.client("secretsmanager"),
        aws.client("dynamodb"),
        event["connection"],
        event["execution_arn"],
    )
    logger.info("Connection removed", removed=result["removed"])
    return result
