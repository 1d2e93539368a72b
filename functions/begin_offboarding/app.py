"""Begin offboarding: mark the connection DEPROVISIONING for this run, or say why it cannot be.

The HTTP API claims the record for the run before starting it; the event and console doors start the run
directly, and this step claims it then. Refusals come back as data with a structured cause, so the
execution's error names them without a Lambda error envelope.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, claims
from provisioner_core.connection_id_request import connection_id_of
from provisioner_core.errors import ConnectionBusy, ConnectionNotFound, InvalidRequest
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

    from provisioner_core.contracts.records import Record
    from provisioner_core.contracts.run_state import RequestEvent
    from provisioner_core.contracts.step_results import OffboardingBegun

logger = Logger()

# What removal needs to know of the record: names and ARNs, nothing else travels.
_FOOTPRINT_FIELDS = (
    "connection_id", "status", "bucket", "prefix", "access", "apply_cors", "iam_user_name",
    "iam_path", "iam_user_arn", "policy_name", "policy_arn", "secret_name", "execution_arn",
    "register_in_labellerr",
)  # fmt: skip


def refusal(connection_id: Any, error: Exception, **extra: Any) -> OffboardingBegun:
    cause: dict[str, Any] = {
        "failed_step": "Begin offboarding",
        "error": type(error).__name__,
        "message": str(error),
    }
    if isinstance(error, InvalidRequest):
        cause["errors"] = error.errors
    cause.update(extra)
    return {
        "connection_id": connection_id if isinstance(connection_id, str) else None,
        "refused": True,
        "error": f"BeginOffboarding.{type(error).__name__}",
        "cause": json.dumps(cause, separators=(",", ":")),
    }


def stop_rotation(sfn: SFNClient, record: Record) -> str | None:
    """Offboarding during a rotation stops it first, so no step of it runs while the connection is removed
    (Remove connection then deletes both keys). Returns the stopped execution's ARN."""
    arn = record.get("rotation_execution_arn")
    if record.get("previous_status") != "ROTATING" or not isinstance(arn, str):
        return None
    if claims.run_state(sfn, arn) == "RUNNING":
        sfn.stop_execution(
            executionArn=arn, error="RotationStopped", cause="the connection is being offboarded"
        )
    return arn


def begin_offboarding(
    dynamodb: DynamoDBClient, sfn: SFNClient, request: Any, execution_arn: str
) -> OffboardingBegun:
    raw_id = request.get("connection_id") if isinstance(request, dict) else None
    try:
        connection_id = connection_id_of(request)
        record = claims.claim_offboarding(dynamodb, sfn, connection_id, execution_arn)
    except (InvalidRequest, ConnectionNotFound, ConnectionBusy) as error:
        return refusal(raw_id, error)
    if record is None:
        return {"connection_id": connection_id, "refused": False, "already_deleted": True}
    if record.get("offboarding_execution_arn") != execution_arn:
        busy = ConnectionBusy(f"connection {connection_id!r} is being offboarded by another run")
        return refusal(connection_id, busy, offboarding_execution_arn=record.get("offboarding_execution_arn"))
    stopped = stop_rotation(sfn, record)
    fields: Mapping[str, Any] = record
    footprint = {key: fields[key] for key in _FOOTPRINT_FIELDS if key in fields}
    return {
        "connection_id": connection_id,
        "refused": False,
        "already_deleted": False,
        "connection": footprint,
        "stopped_rotation": stopped,
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RequestEvent, context: LambdaContext) -> OffboardingBegun:
    result = begin_offboarding(
        aws.client("dynamodb"), aws.client("stepfunctions"), event["request"], event["execution_arn"]
    )
    logger.info("Offboarding", connection_id=result["connection_id"], refused=result["refused"])
    return result
