"""Rollback: undo, newest first, what this execution created, then say what failed and what was undone.

What the run created is read from its state (the ledger: each step's result) and from the deterministic
names a connection uses, and is removed only when its tags prove this execution made it. Every operation
is idempotent, so the state machine may retry the whole rollback.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, cleanup
from provisioner_core.aws import error_code
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, made_by, probe_key
from provisioner_core.step import caught_error

logger = Logger()
SETTINGS = Settings.from_env()

# The flow's steps in order, with where each puts its result in the state.
STEPS = (
    ("Validate request", "connection"),
    ("Register connection", "registration"),
    ("Create user", "user"),
    ("Create policy", "policy"),
    ("Attach policy", "attachment"),
    ("Apply CORS", "cors"),
    ("Issue access key", "access_key"),
    ("Verify access", "verification"),
    ("Record outcome", "recorded"),
)
KEY_REFUSALS = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
# Errors whose message keeps the AWS error code that caused them ("... failed with <Code>: ...").
_CARRY_AWS_CODE = frozenset({"AwsCallFailed", "VerificationFailed"})
_AWS_CODE = re.compile(r" failed with ([A-Za-z0-9_.]+): ")


def failed_step(run: dict[str, Any]) -> str:
    """The flow is linear, so the step that failed is the first one without a result."""
    return next((step for step, key in STEPS if key not in run), "Connection active")


def original_error(failure: dict[str, Any]) -> tuple[str, str]:
    """(error code, message) of what the failed step raised; for AWS calls, the AWS error code."""
    error, message = caught_error(failure)
    match = _AWS_CODE.search(message) if error in _CARRY_AWS_CODE else None
    return (match.group(1) if match else error), message


def step_stem(step: str) -> str:
    return "".join(word[:1].upper() + word[1:].lower() for word in re.split(r"[^A-Za-z0-9]+", step) if word)


def delete_probe(secrets: Any, connection: Connection, secret_arn: str) -> bool:
    """Verification writes a probe object with the issued key; if it died before deleting it, only that
    key may delete it (the provisioner itself has no object permissions). A refused key never wrote one."""
    secret = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    s3 = aws.client_with_key(
        "s3",
        access_key_id=secret["access_key_id"],
        secret_access_key=secret["secret_access_key"],
        region_name=connection["region"],
    )
    try:
        s3.delete_object(Bucket=connection["bucket"], Key=probe_key(connection))
    except ClientError as error:
        if error_code(error) in KEY_REFUSALS:
            return False
        raise
    return True


def probe_may_remain(run: dict[str, Any]) -> bool:
    """Verification reports a probe it could not delete; a timed-out verification may have left one too."""
    if failed_step(run) != "Verify access":
        return False
    error = str((run.get("failure") or {}).get("Error", ""))
    return error == "ProbeLeftBehind" or error.startswith(("States.", "Lambda."))


def roll_back(
    iam: Any,
    s3: Any,
    secrets: Any,
    dynamodb: Any,
    run: dict[str, Any],
    execution_arn: str,
    settings: Settings,
) -> dict[str, Any]:
    ledger = cleanup.Ledger("this execution")
    connection: Connection | None = run.get("connection")
    if connection is not None:
        undo(iam, s3, secrets, dynamodb, run, connection, execution_arn, settings, ledger)
    ledger.raise_if_incomplete()
    step = failed_step(run)
    code, message = original_error(run.get("failure") or {})
    cause = {
        "failed_step": step,
        "error": code,
        "message": message,
        "rolled_back": ledger.removed,
        "not_touched": ledger.untouched,
    }
    return {
        "error": f"{step_stem(step)}.{code}",
        "cause": json.dumps(cause, separators=(",", ":")),
        "rolled_back": ledger.removed,
    }


def undo(
    iam: Any,
    s3: Any,
    secrets: Any,
    dynamodb: Any,
    run: dict[str, Any],
    connection: Connection,
    execution_arn: str,
    settings: Settings,
    ledger: cleanup.Ledger,
) -> None:
    access_key = run.get("access_key")
    if connection["access"] == "import_export" and access_key and probe_may_remain(run):
        probe = f"probe object s3://{connection['bucket']}/{probe_key(connection)}"
        if ledger.attempt(probe, lambda: delete_probe(secrets, connection, access_key["secret_arn"])):
            ledger.removed.append(probe)

    policy_arn = (
        run["policy"]["policy_arn"]
        if "policy" in run
        # The step may have died after creating the policy but before reporting it.
        else cleanup.policy_arn(
            settings.partition, execution_arn, connection["iam_path"], connection["policy_name"]
        )
    )
    footprint = cleanup.Footprint(
        user_name=connection["iam_user_name"],
        secret_name=connection["secret_name"],
        policy_arn=policy_arn,
        bucket=connection["bucket"],
        # Only a rule this run added is this run's to remove.
        remove_cors_rule=(
            (
                lambda: cleanup.remove_shared_cors_rule(
                    s3, dynamodb, connection["bucket"], connection["connection_id"], execution_arn
                )
            )
            if run.get("cors", {}).get("rule_added")
            else None
        ),
    )
    cleanup.remove_footprint(iam, s3, secrets, footprint, lambda tags: made_by(tags, execution_arn), ledger)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = roll_back(
        aws.client("iam"),
        aws.client("s3"),
        aws.client("secretsmanager"),
        aws.client("dynamodb"),
        event["run"],
        event["execution_arn"],
        SETTINGS,
    )
    logger.info("Rolled back", error=outcome["error"], rolled_back=outcome["rolled_back"])
    return outcome
