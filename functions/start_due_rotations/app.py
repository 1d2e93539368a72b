"""Start due rotations: once a day (KeyRotationDays > 0), rotate every ACTIVE connection whose key is older.

The key's age is counted from its last rotation, or from the connection's activation. Each execution's name
carries the connection and the day, so two runs of the schedule on one day start one rotation each.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, registry
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

    from provisioner_core.contracts.records import Record
    from provisioner_core.contracts.step_results import DueRotations

logger = Logger()


def key_issued_at(record: Record) -> datetime | None:
    stamp = record.get("key_rotated_at") or record.get("activated_at")
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def due(records: list[Record], max_age: timedelta, now: datetime) -> list[str]:
    return [
        r["connection_id"]
        for r in records
        if r.get("status") == "ACTIVE"
        and (issued := key_issued_at(r)) is not None
        and now - issued >= max_age
    ]


def start_due_rotations(
    dynamodb: DynamoDBClient, sfn: SFNClient, state_machine_arn: str, days: float, now: datetime | None = None
) -> DueRotations:
    now = now or datetime.now(UTC)
    started, already = [], []
    token = None
    while True:
        page, token = registry.list_page(dynamodb, bucket=None, status="ACTIVE", limit=100, next_token=token)
        for connection_id in due(page, timedelta(days=days), now):
            name = f"{connection_id}-rotation-{now:%Y%m%d}"[:80]
            try:
                sfn.start_execution(
                    stateMachineArn=state_machine_arn,
                    name=name,
                    input=json.dumps({"connection_id": connection_id}),
                )
                started.append(connection_id)
            except ClientError as error:
                if aws.error_code(error) != "ExecutionAlreadyExists":
                    raise
                already.append(connection_id)
        if not token:
            break
    return {"started": started, "already_started_today": already}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> DueRotations:
    result = start_due_rotations(
        aws.client("dynamodb"),
        aws.client("stepfunctions"),
        os.environ["ROTATE_STATE_MACHINE_ARN"],
        float(os.environ["KEY_ROTATION_DAYS"]),
    )
    logger.info("Due rotations started", started=result["started"])
    return result
