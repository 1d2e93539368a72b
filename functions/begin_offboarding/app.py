"""Begin offboarding: mark the connection DEPROVISIONING for this run, or say it is already deleted."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry
from provisioner_core.errors import InvalidRequest
from provisioner_core.naming import CONNECTION_ID_MAX, CONNECTION_ID_PATTERN
from provisioner_core.step import translate_aws_errors

logger = Logger()

# What removal needs to know of the record: names and ARNs, nothing else travels.
_FOOTPRINT_FIELDS = (
    "connection_id", "status", "bucket", "prefix", "access", "apply_cors", "cors", "iam_user_name",
    "iam_path", "policy_name", "policy_arn", "secret_name", "execution_arn",
)  # fmt: skip


def connection_id_of(request: Any) -> str:
    if not isinstance(request, dict) or set(request) - {"connection_id"}:
        raise InvalidRequest([{"field": "request", "message": 'must be exactly {"connection_id": "..."}'}])
    connection_id = request.get("connection_id")
    if (
        not isinstance(connection_id, str)
        or len(connection_id) > CONNECTION_ID_MAX
        or not CONNECTION_ID_PATTERN.fullmatch(connection_id)
    ):
        raise InvalidRequest(
            [{"field": "connection_id", "message": "required: lowercase letters, digits, single hyphens"}]
        )
    return connection_id


def begin_offboarding(dynamodb: Any, request: Any, execution_arn: str) -> dict[str, Any]:
    connection_id = connection_id_of(request)
    record = registry.begin_offboarding(dynamodb, connection_id, execution_arn)
    if record is None:
        return {"connection_id": connection_id, "already_deleted": True}
    footprint = {key: record[key] for key in _FOOTPRINT_FIELDS if key in record}
    return {"connection_id": connection_id, "already_deleted": False, "connection": footprint}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = begin_offboarding(aws.client("dynamodb"), event["request"], event["execution_arn"])
    logger.info(
        "Offboarding", connection_id=result["connection_id"], already_deleted=result["already_deleted"]
    )
    return result
