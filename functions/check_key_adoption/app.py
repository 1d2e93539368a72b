"""Check adoption: has the consumer taken up the new key? Either it signed a request with the key after the
hand-over (GetAccessKeyLastUsed), or somebody confirmed it (POST .../rotations/{rotation_id}/confirm).

Only uses after `handed_over_at` count: the rotation's own uses of the key (verification, Labellerr's test)
all came before it. GetAccessKeyLastUsed reports the latest use only, so a use can be missed only when an
even later one replaced it, which is adoption too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry, rotation
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient

    from provisioner_core.contracts.run_state import CheckKeyAdoptionEvent
    from provisioner_core.contracts.step_results import Adoption, HandOver, RotationKey, RotationStarted

logger = Logger()


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def check_key_adoption(
    iam: IAMClient,
    dynamodb: DynamoDBClient,
    started: RotationStarted,
    new_key: RotationKey,
    hand_over: HandOver,
    checks_done: int,
    execution_arn: str,
) -> Adoption:
    connection_id = started["connection_id"]
    record: Mapping[str, Any] = registry.get(dynamodb, connection_id) or {}
    if record.get("status") != rotation.ROTATING or record.get(rotation.HOLDER_FIELD) != execution_arn:
        return {"abandoned": True, "adopted": False, "stalled": False, "checks_done": checks_done}
    last = iam.get_access_key_last_used(AccessKeyId=new_key["access_key_id"]).get("AccessKeyLastUsed") or {}
    used_at = last.get("LastUsedDate")
    used_after = isinstance(used_at, datetime) and used_at > _stamp(hand_over["handed_over_at"])
    confirmed_at = rotation.signal_for(record, rotation.CONFIRMATION_FIELD, started["rotation_id"])
    adopted_by = "confirmation" if confirmed_at else ("use" if used_after else None)
    result: Adoption = {
        "abandoned": False,
        "adopted": adopted_by is not None,
        "adopted_by": adopted_by,
        "checks_done": checks_done + 1,
        "stalled": adopted_by is None and checks_done >= started["timing"]["adoption_checks"],
        "last_used_at": used_at.isoformat() if isinstance(used_at, datetime) else None,
        "last_used_service": last.get("ServiceName"),
    }
    if adopted_by:
        rotation.update(
            dynamodb,
            connection_id,
            execution_arn,
            {
                "stage": "ADOPTED",
                "adopted_at": registry.now(),
                "adopted_by": adopted_by,
                "new_key_last_used_at": result["last_used_at"],
            },
        )
    return result


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: CheckKeyAdoptionEvent, context: LambdaContext) -> Adoption:
    result = check_key_adoption(
        aws.client("iam"),
        aws.client("dynamodb"),
        event["rotation"],
        event["new_key"],
        event["hand_over"],
        int(event.get("checks_done", 0)),
        event["execution_arn"],
    )
    logger.info("Adoption checked", adopted=result["adopted"], checks_done=result["checks_done"])
    return result
