"""Check grace: while the old key is inactive, has somebody asked to roll the rotation back, or is the grace
period over (then the old key is deleted)?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry, rotation
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from provisioner_core.contracts.run_state import CheckGraceEvent
    from provisioner_core.contracts.step_results import Grace, RotationStarted

logger = Logger()


def check_rotation_grace(
    dynamodb: DynamoDBClient, started: RotationStarted, checks_done: int, execution_arn: str
) -> Grace:
    record: Mapping[str, Any] = registry.get(dynamodb, started["connection_id"]) or {}
    if record.get("status") != rotation.ROTATING or record.get(rotation.HOLDER_FIELD) != execution_arn:
        return {"abandoned": True, "rollback": False, "over": False, "checks_done": checks_done}
    requested = rotation.signal_for(record, rotation.ROLLBACK_REQUEST_FIELD, started["rotation_id"])
    return {
        "abandoned": False,
        "rollback": requested is not None,
        "rollback_requested_at": requested,
        "over": requested is None and checks_done >= started["timing"]["grace_checks"],
        "checks_done": checks_done + 1,
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: CheckGraceEvent, context: LambdaContext) -> Grace:
    result = check_rotation_grace(
        aws.client("dynamodb"), event["rotation"], int(event.get("checks_done", 0)), event["execution_arn"]
    )
    logger.info("Grace checked", rollback=result["rollback"], over=result["over"])
    return result
