"""Rollback: undo, newest first, what this execution created, then say what failed and what was undone.

Which state failed is a fact the state machine records (each Catch assigns `$$.State.Name`), as is its
error (the Catch's ResultPath); nothing here mirrors the flow's states or their order.

What the run created is found in the world by the deterministic names a connection uses (user, policy,
secret, CORS rule ID, probe key; Labellerr connections by the marker in their description), never from
what an earlier step happened to report, and removed only
when its tags prove this execution made it (the CORS rule and the probe carry the connection in their
name). Every operation is idempotent. One attempt never raises for what it could not remove: it reports
it with everything removed so far, and the state machine tries again after a wait.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, cleanup, labellerr_handoff
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, made_by, probe_key
from provisioner_core.cors import rule_id_for
from provisioner_core.labellerr import LabellerrClient
from provisioner_core.lease import lease_holder
from provisioner_core.step import aws_code_in, caught_error, translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.run_state import CaughtError, OnboardingRun, RollbackEvent
    from provisioner_core.contracts.step_results import RollbackReport

logger = Logger()
SETTINGS = Settings.from_env()


def claimed(run: OnboardingRun) -> bool:
    """Whether Register connection claimed the id for this run. Only then is a CORS rule or probe object
    with this connection's name this run's: an earlier run's were removed before the id became free, and
    before the claim the name may be a live connection's."""
    registration = run.get("registration")
    return registration is not None and registration.get("claimed") is True


def original_error(failure: CaughtError) -> tuple[str, str]:
    """(error code, message) of what the failed step raised; for AWS calls, the AWS error code."""
    error, message = caught_error(failure)
    return aws_code_in(error, message), message


def step_stem(step: str) -> str:
    return "".join(word[:1].upper() + word[1:].lower() for word in re.split(r"[^A-Za-z0-9]+", step) if word)


def footprint_of(run: OnboardingRun, connection: Connection, execution_arn: str) -> cleanup.Footprint:
    connection_id = connection["connection_id"]
    writes = connection["access"] == "import_export"
    return cleanup.Footprint(
        user_name=connection["iam_user_name"],
        secret_name=connection["secret_name"],
        policy_arn=cleanup.policy_arn(
            SETTINGS.partition, execution_arn, connection["iam_path"], connection["policy_name"]
        ),
        bucket=connection["bucket"],
        # Looked for whatever step failed: absent, they cost a read and are not reported.
        cors_rule_id=rule_id_for(connection_id) if connection["apply_cors"] and claimed(run) else None,
        probe_key=probe_key(connection) if writes and claimed(run) else None,
        lease_holder=lease_holder(connection_id),
        probe_may_exist=True,
    )


def roll_back(
    iam: IAMClient,
    s3: S3Client,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    run: OnboardingRun,
    execution_arn: str,
    labellerr_client: Callable[[], LabellerrClient] | None = None,
    *,
    failed_state: str | None,
    handed_to_labellerr: bool = False,
) -> RollbackReport:
    """`failed_state` is the state whose Catch led here, as the state machine recorded it; the run was
    handed to Labellerr when the state machine says so (`handed_to_labellerr`): only then can a Labellerr
    connection with this connection's marker be this run's, and only then is Labellerr asked."""
    previous = run.get("rollback")
    ledger = cleanup.Ledger("this execution", previous.get("removed") if previous else None)
    connection: Connection | None = run.get("connection")
    if connection is not None and connection.get("register_in_labellerr") and handed_to_labellerr:
        # Newest first, and Labellerr's copy of the key goes before the key itself.
        make_client = labellerr_client or (lambda: labellerr_handoff.client_for(secrets, SETTINGS))
        labellerr_handoff.remove_labellerr_connections(make_client, connection["connection_id"], ledger)
    if connection is not None:
        cleanup.remove_footprint(
            iam,
            s3,
            secrets,
            dynamodb,
            footprint_of(run, connection, execution_arn),
            lambda tags: made_by(tags, execution_arn),
            ledger,
        )
    outcome = cleanup.report(ledger, (int(previous.get("attempts", 0)) if previous else 0) + 1)
    step = failed_state or "Unknown step"
    code, message = original_error(run.get("failure") or {})
    cause: dict[str, Any] = {
        "failed_step": step,
        "error": code,
        "message": message,
        "rolled_back": ledger.removed,
        "not_touched": ledger.untouched,
    }
    if not ledger.complete:
        cause.update({"left_behind": ledger.left_behind, "errors": ledger.errors})
    return {
        **outcome,
        # What a rolled-back run ends with; a rollback that cannot finish ends RollbackFailed instead.
        "error": f"{step_stem(step)}.{code}" if ledger.complete else "RollbackFailed",
        "cause": json.dumps(cause, separators=(",", ":")),
        "rolled_back": ledger.removed,
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RollbackEvent, context: LambdaContext) -> RollbackReport:
    outcome = roll_back(
        aws.client("iam"),
        aws.client("s3"),
        aws.client("secretsmanager"),
        aws.client("dynamodb"),
        event["run"],
        event["execution_arn"],
        lambda: labellerr_handoff.client_for(
            aws.client("secretsmanager"), SETTINGS, lambda: context.get_remaining_time_in_millis() / 1000
        ),
        failed_state=event.get("failed_state"),
        handed_to_labellerr=event.get("handed_to_labellerr") is True,
    )
    logger.info(
        "Rolled back", error=outcome["error"], complete=outcome["complete"], removed=outcome["removed"]
    )
    return outcome
