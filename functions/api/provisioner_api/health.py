"""POST /connections/{id}/health-checks and /repairs: start the health check state machine for one connection.

The machine does the work and writes the record's `health` when it ends; here only the door: the
connection must exist and hold a live key (ACTIVE, or ROTATING, whose old key still serves), then one run.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Final

from provisioner_api.listing import get_connection
from provisioner_api.shapes import HealthCheckAccepted
from provisioner_core.errors import ConnectionBusy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

CHECKABLE: Final = ("ACTIVE", "ROTATING")


def run_name(connection_id: str, repair: bool) -> str:
    """A fresh name each time: Step Functions keeps a name 90 days, and a connection is checked often."""
    kind = "repair" if repair else "check"
    return f"{connection_id}-{kind}-{uuid.uuid4().hex[:12]}"[-80:]


def start(
    dynamodb: DynamoDBClient, sfn: SFNClient, connection_id: str, state_machine_arn: str, *, repair: bool
) -> HealthCheckAccepted:
    """Start one check (or repair, then check) of an ACTIVE or ROTATING connection; 404 or 409 otherwise.

    Two requests at once start two runs: a check only reads, and a repair only puts back what is ours, so
    the second finds the first's work done; the record keeps the last run's verdict.
    """
    record = get_connection(dynamodb, connection_id)
    if record["status"] not in CHECKABLE:
        what = "repaired" if repair else "checked"
        raise ConnectionBusy(
            f"connection {connection_id!r} is {record['status']}; only an ACTIVE or ROTATING connection "
            f"can be {what}"
        )
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=run_name(connection_id, repair),
        input=json.dumps({"connection_id": connection_id, "repair": repair}),
    )
    return {
        "connection_id": connection_id,
        "execution_arn": started["executionArn"],
        "repair": repair,
        "url": f"/connections/{connection_id}",
    }
