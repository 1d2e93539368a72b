"""Undo rotation: put the connection back on its old key, exactly as before the rotation.

Used when a step fails before the consumer could have adopted the new key, and for a rollback asked for
during the grace period. What is restored is read from the world, never from what a step reported: the old
key gets back the status Begin rotation recorded before the rotation touched it (Active, or Inactive when a
person had deactivated it: an undo never re-enables a key somebody switched off), the secret's AWSCURRENT
goes back to the version holding it (the one Begin rotation recorded), AWSPENDING comes off, and every key on
the user other than the old one is deleted when it is newer than the rotation (an older one is somebody
else's and is left alone, and said so). One attempt never raises for what it could not do: it reports, and
the state machine runs it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, cleanup, rotation
from provisioner_core.connection import probe_key
from provisioner_core.step import caught_error, translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.run_state import RotationRun, UndoRotationEvent
    from provisioner_core.contracts.step_results import UndoReport

logger = Logger()


def restore_secret(secrets: SecretsManagerClient, secret_arn: str, old_version: str) -> str:
    """AWSCURRENT back on the old version, AWSPENDING off every version; returns the current key's id."""
    rotation.make_current(secrets, secret_arn, old_version)
    return rotation.key_id_in_version(secrets, secret_arn, old_version)


def delete_new_keys(
    iam: IAMClient, user_name: str, old_key: str, started: Mapping[str, Any], ledger: cleanup.Ledger
) -> None:
    listed = ledger.attempt(
        f"access keys of {user_name}", lambda: iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    )
    for key in listed if isinstance(listed, list) else []:
        key_id = key["AccessKeyId"]
        if key_id == old_key:
            continue
        if not rotation.made_during(key, started):
            ledger.untouched.append(f"access key {key_id} (older than this rotation)")
            continue
        label = f"new access key {key_id}"

        def delete(key_id: str = key_id) -> bool:
            iam.delete_access_key(UserName=user_name, AccessKeyId=key_id)
            return True

        if ledger.attempt(label, delete) is not None:
            ledger.removed_once(label)


def undo_rotation(
    iam: IAMClient,
    s3: S3Client,
    secrets: SecretsManagerClient,
    run: RotationRun,
    reason: str,
    execution_arn: str,
    failed_state: str | None = None,
) -> UndoReport:
    """`failed_state`: for an undo after a failure, the state that failed, as the state machine recorded."""
    previous = run.get("undo")
    ledger = cleanup.Ledger("this rotation", previous.get("removed") if previous else None)
    started = run["rotation"]
    connection = started["connection"]
    user_name, old_key = connection["iam_user_name"], started["old_access_key_id"]
    # Begin rotation keeps it in the record's `rotation` and hands it to every step (a retried Begin reads it
    # back from the record); a rotation begun before it was kept had an Active old key.
    old_status = started.get("old_key_status") or "Active"

    restored = ledger.attempt(
        f"old access key {old_key} (to make {old_status} again, as before the rotation)",
        lambda: iam.update_access_key(UserName=user_name, AccessKeyId=old_key, Status=old_status),
    )
    if restored is not None:
        ledger.removed_once(f"old access key {old_key} {old_status} again, as before the rotation")
    current_key = ledger.attempt(
        f"secret {started['secret_arn']} (AWSCURRENT back on the old key's version)",
        lambda: restore_secret(secrets, started["secret_arn"], started["old_version_id"]),
    )
    if isinstance(current_key, str):
        ledger.removed_once("AWSCURRENT back on the old key's version, AWSPENDING removed")
    delete_new_keys(iam, user_name, old_key, started, ledger)
    if connection["access"] == "import_export":
        # Verify access may have written its probe with the new key.
        ledger.attempt(
            f"probe object s3://{connection['bucket']}/{probe_key(connection)}",
            lambda: cleanup.delete_probe(s3, connection["bucket"], probe_key(connection)),
            unseen=True,
        )
    outcome = cleanup.report(ledger, (int(previous.get("attempts", 0)) if previous else 0) + 1)
    error, message = caught_error(run.get("failure") or {}) if reason == "failed" else ("RolledBack", "")
    cause: dict[str, Any] = {
        "reason": reason,
        "failed_step": failed_state if reason == "failed" else None,
        "error": error,
        "message": message[:1000],
        "undone": ledger.removed,
    }
    if not ledger.complete:
        cause.update({"left_behind": ledger.left_behind, "errors": ledger.errors})
    return {
        **outcome,
        "reason": reason,
        "current_access_key_id": current_key if isinstance(current_key, str) else None,
        "cause": json.dumps(cause, separators=(",", ":")),
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: UndoRotationEvent, context: LambdaContext) -> UndoReport:
    outcome = undo_rotation(
        aws.client("iam"),
        aws.client("s3"),
        aws.client("secretsmanager"),
        event["run"],
        str(event.get("reason", "failed")),
        event["execution_arn"],
        event.get("failed_state"),
    )
    logger.info("Rotation undone", complete=outcome["complete"], removed=outcome["removed"])
    return outcome
