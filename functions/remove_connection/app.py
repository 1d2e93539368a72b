"""Remove connection: delete what a connection owns, found by its names and proven by its connection-id tag
(the user also by the record: its name on the recorded path and its recorded ARN, so a user whose tags a
person removed is still removed); its Labellerr connections first, found in Labellerr by the marker in their
description. What a person attached to the user that blocks its deletion (inline policies, other policies,
groups, a console password, MFA devices, certificates, SSH keys, service credentials) is removed first, each
named in `removed`.

Idempotent (NotFound means done), so a retried or resumed offboarding finishes what an earlier one left.
One attempt never raises for what it could not remove: it reports it, and the state machine tries again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, cleanup, labellerr_handoff
from provisioner_core.config import TAG_CONNECTION_ID, Settings
from provisioner_core.connection import probe_key_for
from provisioner_core.cors import rule_id_for
from provisioner_core.labellerr import LabellerrClient
from provisioner_core.lease import lease_holder
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.run_state import RemoveConnectionEvent
    from provisioner_core.contracts.step_results import RemovalReport

logger = Logger()
SETTINGS = Settings.from_env()


def tagged_for(connection_id: str) -> cleanup.Owned:
    return lambda tags: any(
        t.get("Key") == TAG_CONNECTION_ID and t.get("Value") == connection_id for t in tags
    )


def recorded_user(connection: dict[str, Any]) -> cleanup.RecordedUser | None:
    """The user as the record has it once it was ACTIVE: its path and its ARN. None without a recorded ARN
    (a run that never reached ACTIVE: then only the tags prove it), or with one that is not the recorded name
    on the recorded path."""
    path = connection.get("iam_path")
    if not isinstance(path, str) or not path:
        return None
    arn = connection.get("iam_user_arn")
    if not isinstance(arn, str) or not arn.endswith(f":user{path}{connection['iam_user_name']}"):
        return None
    return cleanup.RecordedUser(path=path, arn=arn)


def footprint_of(connection: dict[str, Any], execution_arn: str) -> cleanup.Footprint:
    connection_id = connection["connection_id"]
    return cleanup.Footprint(
        user_name=connection["iam_user_name"],
        secret_name=connection["secret_name"],
        policy_arn=connection.get("policy_arn")
        or cleanup.policy_arn(
            SETTINGS.partition, execution_arn, connection["iam_path"], connection["policy_name"]
        ),
        bucket=connection["bucket"],
        cors_rule_id=rule_id_for(connection_id) if connection.get("apply_cors", True) else None,
        probe_key=(
            probe_key_for(connection.get("prefix", ""), connection_id)
            if connection.get("access") == "import_export"
            else None
        ),
        lease_holder=lease_holder(connection_id),
        recorded_user=recorded_user(connection),
        release_attachments=True,
    )


def remove_connection(
    iam: IAMClient,
    s3: S3Client,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    connection: dict[str, Any],
    execution_arn: str,
    previous: RemovalReport | None = None,
    labellerr_client: Callable[[], LabellerrClient] | None = None,
) -> RemovalReport:
    ledger = cleanup.Ledger(
        f"connection {connection['connection_id']}", previous.get("removed") if previous else None
    )
    # Records from before the hand-off have no register_in_labellerr; with credentials, look anyway.
    if connection.get("register_in_labellerr", SETTINGS.labellerr_enabled):
        # Before the key: Labellerr must not keep a connection whose key is being revoked.
        make_client = labellerr_client or (lambda: labellerr_handoff.client_for(secrets, SETTINGS))
        labellerr_handoff.remove_labellerr_connections(make_client, connection["connection_id"], ledger)
    footprint = footprint_of(connection, execution_arn)
    cleanup.remove_footprint(
        iam, s3, secrets, dynamodb, footprint, tagged_for(connection["connection_id"]), ledger
    )
    outcome = cleanup.report(ledger, (int(previous.get("attempts", 0)) if previous else 0) + 1)
    cause = {"failed_step": "Remove connection", "error": "RollbackFailed", **outcome}
    for scheduling in ("complete", "attempts", "retry", "retry_in_seconds"):
        cause.pop(scheduling)
    return {**outcome, "cause": json.dumps(cause, separators=(",", ":"))}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RemoveConnectionEvent, context: LambdaContext) -> RemovalReport:
    result = remove_connection(
        aws.client("iam"),
        aws.client("s3"),
        aws.client("secretsmanager"),
        aws.client("dynamodb"),
        event["run"]["offboarding"]["connection"],
        event["execution_arn"],
        event["run"].get("removal"),
        lambda: labellerr_handoff.client_for(
            aws.client("secretsmanager"), SETTINGS, lambda: context.get_remaining_time_in_millis() / 1000
        ),
    )
    logger.info("Connection removal", complete=result["complete"], removed=result["removed"])
    return result
