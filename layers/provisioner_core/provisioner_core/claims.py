"""Who holds a connection id: the registry's claims, and whether the run behind a claim is still alive.

A claim (PROVISIONING or DEPROVISIONING) names the execution that holds it. When that execution has ended
without settling the record (its last writes failed, it timed out or was stopped), or never started (the
claim committed and StartExecution did not), the claim is stale: nothing can still change the connection,
so an offboarding may take it over and finish the job from what exists in the account.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from provisioner_core import registry
from provisioner_core.aws import error_code
from provisioner_core.errors import ConnectionBusy, ConnectionNotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

    from provisioner_core.contracts.records import Record

RunState = Literal["RUNNING", "ENDED", "MISSING"]
HOLDER_FIELDS = {"PROVISIONING": "execution_arn", "DEPROVISIONING": "offboarding_execution_arn"}
# Longer than the API function's timeout: a claim younger than this may belong to a request that has
# claimed the id and is about to start its run.
DEFAULT_GRACE_SECONDS = 120


def grace_seconds() -> float:
    return float(os.environ.get("STALE_CLAIM_SECONDS", DEFAULT_GRACE_SECONDS))


def run_state(sfn: SFNClient, execution_arn: str) -> RunState:
    try:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return "MISSING"
        raise
    return "RUNNING" if status in ("RUNNING", "PENDING_REDRIVE") else "ENDED"


def _age_seconds(record: Mapping[str, Any]) -> float:
    stamp = str(record.get("updated_at") or record.get("created_at") or "")
    try:
        written = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")
    return time.time() - written


def holder_state(sfn: SFNClient, record: Mapping[str, Any]) -> RunState | None:
    """The state of the run holding a PROVISIONING or DEPROVISIONING record; None for settled records.

    A missing run counts as MISSING only once the grace period is over, and as RUNNING before.
    """
    field = HOLDER_FIELDS.get(str(record.get("status")))
    if field is None:
        return None
    arn = record.get(field)
    state = run_state(sfn, arn) if isinstance(arn, str) and arn else "MISSING"
    if state == "MISSING" and _age_seconds(record) < grace_seconds():
        return "RUNNING"
    return state


def is_stale(sfn: SFNClient, record: Mapping[str, Any]) -> bool:
    return holder_state(sfn, record) in ("ENDED", "MISSING")


def claim_offboarding(
    dynamodb: DynamoDBClient, sfn: SFNClient, connection_id: str, execution_arn: str
) -> Record | None:
    """Mark the connection DEPROVISIONING for `execution_arn`, or return the record as it stands when
    another offboarding that is still alive holds it (the caller compares `offboarding_execution_arn`).

    None when it is DELETED already. Raises ConnectionNotFound, or ConnectionBusy while its onboarding
    still runs. Conditional on the record not having changed since it was read, so of two concurrent
    requests exactly one claims it and the other gets the winner's record.
    """
    for _ in range(3):
        current = registry.get(dynamodb, connection_id)
        if current is None:
            raise ConnectionNotFound(f"connection_id: no connection {connection_id!r}")
        status = current["status"]
        if status == "DELETED":
            return None
        if status == "DEPROVISIONING" and current.get("offboarding_execution_arn") == execution_arn:
            return current
        # A rotation is stopped by the offboarding that takes it over (Begin offboarding), not waited for.
        if status not in (*registry.SETTLED, "ROTATING") and not is_stale(sfn, current):
            if status == "DEPROVISIONING":
                return current
            raise ConnectionBusy(
                f"connection {connection_id!r} is {status}; offboard it once its onboarding has ended"
            )
        try:
            return registry.update(
                dynamodb,
                connection_id,
                {
                    "status": "DEPROVISIONING",
                    "offboarding_execution_arn": execution_arn,
                    "previous_status": status,
                },
                owner_field="status",
                owner=status,
                also={"updated_at": str(current.get("updated_at", ""))},
            )
        except ConnectionBusy:
            continue  # Changed under us: read it again and decide again.
        except ClientError:
            # The write may have taken effect and lost its reply: the record is the proof.
            written = registry.get(dynamodb, connection_id)
            if written and written.get("offboarding_execution_arn") == execution_arn:
                return written
            raise
    raise ConnectionBusy(f"connection {connection_id!r} is changing too fast to offboard; retry shortly")


def release_offboarding(dynamodb: DynamoDBClient, record: Record) -> None:
    """Undo a DEPROVISIONING claim whose run could not be started: back to the status it had."""
    registry.update(
        dynamodb,
        record["connection_id"],
        {"status": record.get("previous_status", "ACTIVE")},
        owner_field="offboarding_execution_arn",
        owner=str(record["offboarding_execution_arn"]),
        also={"status": "DEPROVISIONING"},
        remove=("offboarding_execution_arn",),
    )
