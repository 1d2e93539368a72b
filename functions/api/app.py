"""HTTP API: start, read, list, check and remove connections; the state machines do the work.

This module is the handler and its routes; the work is in the package next to it, one concern a module:
`provisioner_api.body` (the POST body), `.onboarding` and `.onboarding_claim` (POST), `.offboarding`
(DELETE), `.listing` (GET), `.rotations` and `.health` (the key rotation's and the health check's doors),
`.runs` (execution names and ARNs), `.shapes` (what the API answers) and `.runtime` (the logger and
settings read at import).

Bodies are parsed with `parse_request` rather than by Powertools' validation, which nearly doubles the
cold start; the OpenAPI document is generated from this module by scripts/generate_openapi.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_api import health, rotations
from provisioner_api.body import PayloadTooLarge, UnsupportedMediaType, read_json_body
from provisioner_api.listing import get_connection, list_connections
from provisioner_api.offboarding import delete_connection
from provisioner_api.onboarding import IDEMPOTENCY_KEY_HEADER, create_connection
from provisioner_api.runtime import SETTINGS, logger
from provisioner_api.shapes import (
    Accepted,
    ConnectionPage,
    ConnectionRecord,
    Errors,
    HealthCheckAccepted,
    RotationAccepted,
    RotationSignal,
    accepted_response,
    error_response,
    json_response,
)
from provisioner_core import aws, idempotency, plan_client, rotation_requests
from provisioner_core.aws import error_code
from provisioner_core.errors import (
    ConnectionAlreadyExists,
    ConnectionBusy,
    ConnectionNotFound,
    InvalidRequest,
)

# The schemas scripts/generate_openapi.py documents, and what the tests read from here.
__all__ = [
    "SETTINGS",
    "Accepted",
    "ConnectionPage",
    "ConnectionRecord",
    "Errors",
    "HealthCheckAccepted",
    "RotationAccepted",
    "RotationSignal",
    "app",
    "lambda_handler",
    "logger",
]

app = APIGatewayHttpResolver()

_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "Throttling"}
)
_OPENAPI_PATH = Path(__file__).with_name("openapi.json")


# --- routes ---------------------------------------------------------------------------------------------


@app.post("/connections", summary="Start onboarding a connection")
def post_connection() -> Response[Any]:
    event = app.current_event
    raw = read_json_body(event.headers.get("content-type"), event.body, bool(event.is_base64_encoded))
    answer, replayed = create_connection(
        aws.client("dynamodb"),
        aws.client("stepfunctions"),
        raw,
        event.headers.get(IDEMPOTENCY_KEY_HEADER),
        state_machine_arn=os.environ["ONBOARD_STATE_MACHINE_ARN"],
        idempotency_table=os.environ["IDEMPOTENCY_TABLE"],
        lambda_context=app.lambda_context,
    )
    logger.info(
        "Onboarding accepted",
        connection_id=answer["connection_id"],
        execution_arn=answer["execution_arn"],
        replayed=replayed,
    )
    return accepted_response(answer, replayed=replayed)


@app.post("/connections/plan", summary="Plan an onboarding: what it would do, changing nothing")
def post_plan() -> Response[Any]:
    event = app.current_event
    raw = read_json_body(event.headers.get("content-type"), event.body, bool(event.is_base64_encoded))
    plan = plan_client.request_plan(
        _plan_lambda_client,
        os.environ["PLAN_ONBOARDING_FUNCTION"],
        raw,
        SETTINGS,
        app.lambda_context.get_remaining_time_in_millis,
    )
    return json_response(200, plan)


def _plan_lambda_client(connect_timeout: int, read_timeout: int) -> Any:
    return aws.bounded_client("lambda", connect_timeout=connect_timeout, read_timeout=read_timeout)


@app.get("/connections", summary="List connections")
def get_connections() -> Response[Any]:
    page = list_connections(aws.client("dynamodb"), app.current_event.query_string_parameters)
    return json_response(200, page)


@app.get("/connections/<connection_id>", summary="Read one connection")
def get_one_connection(connection_id: str) -> Response[Any]:
    record = get_connection(aws.client("dynamodb"), connection_id)
    # Read from IAM, not the record: the user's keys as they are, with their age and last use.
    record["keys"] = rotation_requests.key_details(aws.client("iam"), dict(record))
    return json_response(200, record)


@app.post("/connections/<connection_id>/rotations", summary="Start rotating a connection's access key")
def post_rotation(connection_id: str) -> Response[Any]:
    answer = rotations.start(
        aws.client("dynamodb"),
        aws.client("stepfunctions"),
        connection_id,
        os.environ["ROTATE_STATE_MACHINE_ARN"],
    )
    logger.info("Rotation accepted", connection_id=connection_id, rotation_id=answer["rotation_id"])
    return json_response(202, answer, {"Location": f"/connections/{connection_id}"})


@app.post(
    "/connections/<connection_id>/rotations/<rotation_id>/confirm",
    summary="Confirm that the consumer uses the rotation's new key",
)
def post_rotation_confirmation(connection_id: str, rotation_id: str) -> Response[Any]:
    answer = rotations.confirm(aws.client("dynamodb"), connection_id, rotation_id)
    logger.info("Rotation confirmed", connection_id=connection_id, rotation_id=rotation_id)
    return json_response(202, answer)


@app.post(
    "/connections/<connection_id>/rotations/<rotation_id>/rollback",
    summary="Roll a rotation back to the old key during its grace period",
)
def post_rotation_rollback(connection_id: str, rotation_id: str) -> Response[Any]:
    answer = rotations.roll_back(aws.client("dynamodb"), connection_id, rotation_id)
    logger.info("Rotation rollback requested", connection_id=connection_id, rotation_id=rotation_id)
    return json_response(202, answer)


@app.post("/connections/<connection_id>/health-checks", summary="Start a health check of a connection")
def post_health_check(connection_id: str) -> Response[Any]:
    return _start_health_run(connection_id, repair=False)


@app.post(
    "/connections/<connection_id>/repairs",
    summary="Repair what the stack created for a connection, then check it again",
)
def post_repair(connection_id: str) -> Response[Any]:
    return _start_health_run(connection_id, repair=True)


def _start_health_run(connection_id: str, *, repair: bool) -> Response[Any]:
    answer = health.start(
        aws.client("dynamodb"),
        aws.client("stepfunctions"),
        connection_id,
        os.environ["HEALTH_STATE_MACHINE_ARN"],
        repair=repair,
    )
    logger.info(
        "Repair accepted" if repair else "Health check accepted",
        connection_id=connection_id,
        execution_arn=answer["execution_arn"],
    )
    return json_response(202, answer, {"Location": answer["url"]})


@app.delete("/connections/<connection_id>", summary="Remove a connection")
def delete_one_connection(connection_id: str) -> Response[Any]:
    answer = delete_connection(
        aws.client("dynamodb"),
        aws.client("stepfunctions"),
        connection_id,
        os.environ["OFFBOARD_STATE_MACHINE_ARN"],
    )
    logger.info(
        "Offboarding accepted",
        connection_id=connection_id,
        status=answer["status"],
        execution_arn=answer["execution_arn"],
    )
    return accepted_response(answer)


@app.get("/openapi.json", summary="This API's OpenAPI document")
def get_openapi() -> Response[Any]:
    return Response(status_code=200, content_type="application/json", body=_openapi_text())


_openapi_cache: list[str] = []


def _openapi_text() -> str:
    # Read on first use, not at import: most invocations never serve it.
    if not _openapi_cache:
        _openapi_cache.append(_OPENAPI_PATH.read_text(encoding="utf-8"))
    return _openapi_cache[0]


# --- errors: every body is {"errors": [{"field", "message"}]} -------------------------------------------

ErrorHandler = TypeVar("ErrorHandler", bound=Callable[..., Response[Any]])


def exception_handler(error: type[Exception]) -> Callable[[ErrorHandler], ErrorHandler]:
    """app.exception_handler, typed (Powertools' is not): registers the handler and returns it as it is."""
    register: Callable[[ErrorHandler], ErrorHandler] = app.exception_handler(error)
    return register


@exception_handler(InvalidRequest)
def _invalid_request(error: InvalidRequest) -> Response[Any]:
    return json_response(400, {"errors": error.errors})


@exception_handler(UnsupportedMediaType)
def _unsupported_media_type(error: UnsupportedMediaType) -> Response[Any]:
    return error_response(415, "Content-Type", str(error))


@exception_handler(PayloadTooLarge)
def _payload_too_large(error: PayloadTooLarge) -> Response[Any]:
    return error_response(413, "body", str(error))


@exception_handler(ConnectionNotFound)
def _not_a_connection(error: ConnectionNotFound) -> Response[Any]:
    return error_response(404, "connection_id", str(error))


@exception_handler(ConnectionAlreadyExists)
def _connection_exists(error: ConnectionAlreadyExists) -> Response[Any]:
    return error_response(409, "connection_id", str(error))


@exception_handler(ConnectionBusy)
def _connection_busy(error: ConnectionBusy) -> Response[Any]:
    return error_response(409, "connection_id", str(error))


@exception_handler(idempotency.IdempotencyKeyReused)
def _key_reused(error: idempotency.IdempotencyKeyReused) -> Response[Any]:
    return error_response(422, IDEMPOTENCY_KEY_HEADER, str(error))


@exception_handler(idempotency.IdempotencyKeyInProgress)
def _key_in_progress(error: idempotency.IdempotencyKeyInProgress) -> Response[Any]:
    return error_response(409, IDEMPOTENCY_KEY_HEADER, str(error))


@app.not_found
def _no_route(error: NotFoundError) -> Response[Any]:
    event = app.current_event
    return error_response(404, "path", f"no route {event.request_context.http.method} {event.raw_path}")


@exception_handler(plan_client.PlanUnavailable)
def _plan_unavailable(error: plan_client.PlanUnavailable) -> Response[Any]:
    return error_response(503, "request", str(error))


@exception_handler(plan_client.PlanTimedOut)
def _plan_timed_out(error: plan_client.PlanTimedOut) -> Response[Any]:
    logger.warning("Plan timed out", reason=str(error))
    return error_response(504, "request", str(error))


@exception_handler(ClientError)
def _aws_failure(error: ClientError) -> Response[Any]:
    # The log keeps the operation and code; the caller learns only whether retrying can help.
    code = error_code(error)
    logger.exception("AWS call failed", operation=error.operation_name, error_code=code)
    if code in _THROTTLING_CODES:
        return error_response(503, "request", "the service is busy; retry shortly")
    return error_response(500, "request", "the request could not be completed; retry later")


@exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("Unexpected error", error_type=type(error).__name__)
    return error_response(500, "request", "the request could not be completed; retry later")


@logger.inject_lambda_context(log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
