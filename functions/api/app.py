"""HTTP API: start, read, list and remove connections; the onboarding and offboarding flows do the work.

Bodies are parsed here with `parse_request` rather than by Powertools' validation, which nearly doubles the
cold start; the OpenAPI document is generated from this module by scripts/generate_openapi.py.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NotRequired, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from typing_extensions import TypedDict

from provisioner_core import aws, claims, idempotency, plan_client, registry
from provisioner_core.aws import error_code
from provisioner_core.config import Settings
from provisioner_core.errors import (
    ConnectionAlreadyExists,
    ConnectionBusy,
    ConnectionNotFound,
    InvalidRequest,
    ProvisionerError,
)
from provisioner_core.naming import (
    CONNECTION_ID_MAX,
    CONNECTION_ID_PATTERN,
    bucket_name_problem,
    derive_connection_id,
)
from provisioner_core.request import ConnectionRequest, parse_request, to_connection

logger = Logger()
app = APIGatewayHttpResolver()
SETTINGS = Settings.from_env()

MAX_BODY_BYTES = 64 * 1024
LIST_LIMIT_DEFAULT = 25
LIST_LIMIT_MAX = 100
LIST_PARAMETERS = ("bucket", "status", "limit", "next_token")
# A status filter is applied after DynamoDB's Limit; a few reads fill the page without unbounded work.
MAX_LIST_READS = 5
# Names `<id>`, `<id>-2`, ...: Step Functions keeps a name for 90 days after its run, so a connection
# onboarded again after FAILED or DELETED needs the next one.
MAX_NAME_ATTEMPTS = 10
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "Throttling"}
)
_OPENAPI_PATH = Path(__file__).with_name("openapi.json")


class ErrorItem(TypedDict):
    field: str
    message: str


class Errors(TypedDict):
    errors: list[ErrorItem]


class Accepted(TypedDict):
    connection_id: str
    status: Literal["PROVISIONING", "DEPROVISIONING", "DELETED"]
    execution_arn: str | None
    url: str
    warnings: NotRequired[list[str]]


WHOLE_BUCKET_WARNING = "the prefix is empty: this connection grants the whole bucket"


class ConnectionRecord(TypedDict):
    """A registry record as GET returns it; the flows add fields as they go, never key material."""

    connection_id: str
    status: registry.Status
    connection_name: NotRequired[str]
    description: NotRequired[str]
    bucket: NotRequired[str]
    prefix: NotRequired[str]
    s3_uri: NotRequired[str]
    access: NotRequired[Literal["import", "import_export"]]
    apply_cors: NotRequired[bool]
    region: NotRequired[str]
    execution_arn: NotRequired[str]
    offboarding_execution_arn: NotRequired[str]
    iam_user_arn: NotRequired[str]
    policy_arn: NotRequired[str]
    access_key_id: NotRequired[str]
    secret_arn: NotRequired[str]
    register_in_labellerr: NotRequired[bool]
    labellerr_data_type: NotRequired[str]
    # Register in Labellerr's result: labellerr_connection_ids, the test outcome (never a key).
    labellerr: NotRequired[dict[str, Any]]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class ConnectionPage(TypedDict):
    connections: list[ConnectionRecord]
    next_token: str | None


class UnsupportedMediaType(ProvisionerError):
    pass


class PayloadTooLarge(ProvisionerError):
    pass


# --- the work, with its clients as arguments ------------------------------------------------------------


def read_json_body(content_type: str | None, body: str | None, is_base64: bool) -> Any:
    """The body as parsed JSON, or a typed error saying why not (415, 413 or 400)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        data = base64.b64decode(body or "", validate=True) if is_base64 else (body or "").encode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidRequest([{"field": "body", "message": "is not valid base64"}]) from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(data, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except DuplicateKey as duplicate:
        raise InvalidRequest(
            [{"field": duplicate.key, "message": "appears more than once in the body; give each field once"}]
        ) from None
    except (ValueError, RecursionError):
        raise InvalidRequest([{"field": "body", "message": "is not valid JSON"}]) from None


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of two equal keys, other parsers the first: which prefix would be granted
    # must not depend on the parser.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(name)


def idempotency_key_problems(key: str | None) -> list[dict[str, str]]:
    if key is None or _IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        return []
    return [{"field": IDEMPOTENCY_KEY_HEADER, "message": "must be 1-255 visible ASCII characters"}]


def accepted(connection_id: str, status: Any, execution_arn: str | None) -> Accepted:
    return {
        "connection_id": connection_id,
        "status": status,
        "execution_arn": execution_arn,
        "url": f"/connections/{connection_id}",
    }


def execution_arn_for(state_machine_arn: str, name: str) -> str:
    """Known before StartExecution, so the registry can be claimed for the run before it starts."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def execution_name(connection_id: str, attempt: int) -> str:
    return connection_id if attempt == 1 else f"{connection_id}-{attempt}"


def first_attempt(connection_id: str, previous: Mapping[str, Any] | None) -> int:
    """The attempt after the one that wrote `previous`, so a repeat onboarding rarely hits a used name."""
    last = str((previous or {}).get("execution_arn", "")).rsplit(":", 1)[-1]
    if last == connection_id:
        return 2
    suffix = last.removeprefix(f"{connection_id}-")
    if suffix != last and suffix.isascii() and suffix.isdigit():
        return int(suffix) + 1
    return 1


def _put_claim(dynamodb: Any, record: dict[str, Any], replacing: Mapping[str, Any] | None) -> dict[str, Any]:
    """Write `record` as PROVISIONING only while the item is still exactly `replacing` (None: absent).

    registry.claim lets the same execution ARN claim twice, so two requests for one id, which predict
    the same ARN, would both pass it; this optimistic check lets exactly one of them through.
    """
    item = {**record, "status": "PROVISIONING", "updated_at": registry.now()}
    condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(connection_id)"}
    if replacing is not None:
        checks, values = ["#status = :status"], {":status": replacing["status"]}
        for field in ("execution_arn", "updated_at"):
            if replacing.get(field) is None:
                checks.append(f"attribute_not_exists({field})")
            else:
                checks.append(f"{field} = :{field}")
                values[f":{field}"] = replacing[field]
        condition = {
            "ConditionExpression": " AND ".join(checks),
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": registry.to_item(values),
        }
    try:
        dynamodb.put_item(TableName=registry.table_name(), Item=registry.to_item(item), **condition)
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        current = registry.get(dynamodb, record["connection_id"]) or {"status": "taken"}
        raise ConnectionAlreadyExists(
            f"connection {record['connection_id']!r} is already {current['status']}; "
            "offboard it or choose another connection_id"
        ) from None
    return item


def _undo_claim(dynamodb: Any, ours: Mapping[str, Any], previous_item: dict[str, Any] | None) -> None:
    """Nothing was started: put back the item as it was, or (the API may not delete) a reusable FAILED."""
    restored = previous_item or registry.to_item(
        {
            **ours,
            "status": "FAILED",
            "error": {"error": "StartExecutionFailed", "cause": "the onboarding run could not be started"},
            "updated_at": registry.now(),
        }
    )
    try:
        dynamodb.put_item(
            TableName=registry.table_name(),
            Item=restored,
            ConditionExpression="#status = :provisioning AND execution_arn = :execution_arn",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=registry.to_item(
                {":provisioning": "PROVISIONING", ":execution_arn": ours["execution_arn"]}
            ),
        )
    except ClientError as error:
        # ConditionalCheckFailed: the record is no longer ours, so it is not ours to put back either.
        logger.warning(
            "Registry claim not undone", connection_id=ours["connection_id"], error_code=error_code(error)
        )


def claim_record(request: ConnectionRequest, connection_id: str, execution_arn: str) -> dict[str, Any]:
    """The record the flow's Register connection step writes too; the bucket's region is not known yet."""
    connection = to_connection(
        request.model_copy(update={"connection_id": connection_id}),
        SETTINGS,
        execution_arn=execution_arn,
        region="",
    )
    record: dict[str, Any] = {key: value for key, value in connection.items() if key != "region"}
    return {**record, "created_at": registry.now()}


def start_onboarding(
    dynamodb: Any,
    sfn: Any,
    raw: Mapping[str, Any],
    request: ConnectionRequest,
    connection_id: str,
    state_machine_arn: str,
    *,
    adopt: bool = False,
) -> Accepted:
    """Claim the id in the registry, then start the onboarding run that owns the claim.

    `adopt`: this request took over a dead invocation's Idempotency-Key, which may have claimed the id
    already; StartExecution with the same name and input then returns that run instead of a new one.
    """
    run_input = onboarding_input(raw, connection_id)
    previous_item = dynamodb.get_item(
        TableName=registry.table_name(), Key={"connection_id": {"S": connection_id}}, ConsistentRead=True
    ).get("Item")
    previous = registry.from_item(previous_item) if previous_item else None
    if previous is not None and previous["status"] not in registry.REUSABLE:
        if adopt and previous["status"] == "PROVISIONING":
            name = str(previous.get("execution_arn", "")).rsplit(":", 1)[-1]
            try:
                response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=run_input)
            except ClientError as error:
                if error_code(error) != "ExecutionAlreadyExists":
                    raise
            else:
                return accepted(connection_id, "PROVISIONING", response["executionArn"])
        # A claim whose run never started (StartExecution failed and so did undoing the claim) holds
        # nothing: the id is free again once the grace period is over.
        never_started = (
            previous["status"] == "PROVISIONING" and claims.holder_state(sfn, previous) == "MISSING"
        )
        if not never_started:
            raise ConnectionAlreadyExists(already_message(sfn, connection_id, previous))
    first = first_attempt(connection_id, previous)
    ours: dict[str, Any] = {}
    try:
        for attempt in range(first, first + MAX_NAME_ATTEMPTS):
            name = execution_name(connection_id, attempt)
            execution_arn = execution_arn_for(state_machine_arn, name)
            if not ours:
                wanted = claim_record(request, connection_id, execution_arn)
                # Set before the write: a claim that commits and loses its reply must still be undone.
                ours = {**wanted, "status": "PROVISIONING"}
                ours = _put_claim(dynamodb, wanted, previous)
            else:
                # An earlier run the registry no longer remembers used the last name: move the claim on.
                ours = _put_claim(dynamodb, {**ours, "execution_arn": execution_arn}, ours)
            try:
                response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=run_input)
            except ClientError as error:
                if error_code(error) == "ExecutionAlreadyExists":
                    continue
                # StartExecution may have taken effect and lost its reply: the run is the proof.
                if claims.run_state(sfn, execution_arn) == "MISSING":
                    raise
                return accepted(connection_id, "PROVISIONING", execution_arn)
            return accepted(connection_id, "PROVISIONING", response["executionArn"])
        raise ConnectionBusy(
            f"connection {connection_id!r} was onboarded too often lately; choose another connection_id"
        )
    except ConnectionAlreadyExists:
        raise
    except Exception:
        if ours:
            _undo_claim(dynamodb, ours, previous_item)
        raise


def onboarding_input(raw: Mapping[str, Any], connection_id: str) -> str:
    return json.dumps({**raw, "connection_id": connection_id}, sort_keys=True, separators=(",", ":"))


def already_message(sfn: Any, connection_id: str, record: Mapping[str, Any]) -> str:
    status = record["status"]
    if status == "PROVISIONING" and claims.holder_state(sfn, dict(record)) == "ENDED":
        return (
            f"connection {connection_id!r} is PROVISIONING, but its onboarding run ended without recording "
            f"how; DELETE /connections/{connection_id} removes whatever it left, then the id is free"
        )
    return f"connection {connection_id!r} is already {status}; offboard it or choose another connection_id"


def started_onboarding(
    dynamodb: Any, sfn: Any, raw: Mapping[str, Any], connection_id: str
) -> Accepted | None:
    """The answer for a request whose onboarding was started although its reply was never stored: the
    registry's record names a run whose input is exactly this request's."""
    record = registry.get(dynamodb, connection_id)
    execution_arn = (record or {}).get("execution_arn")
    if not isinstance(execution_arn, str):
        return None
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error_code(error) == "ExecutionDoesNotExist":
            return None
        raise
    if json.loads(described.get("input") or "null") != json.loads(onboarding_input(raw, connection_id)):
        return None
    return accepted(connection_id, "PROVISIONING", execution_arn)


def create_connection(
    dynamodb: Any,
    sfn: Any,
    raw: Any,
    idempotency_key: str | None,
    *,
    state_machine_arn: str,
    idempotency_table: str,
) -> tuple[Accepted, bool]:
    """(answer, replayed): validate, then onboard once per Idempotency-Key."""
    problems = idempotency_key_problems(idempotency_key)
    if not isinstance(raw, dict):
        raise InvalidRequest([{"field": "body", "message": "must be a JSON object"}, *problems])
    try:
        request = parse_request(raw, labellerr_available=SETTINGS.labellerr_enabled)
    except InvalidRequest as invalid:
        raise InvalidRequest([*invalid.errors, *problems]) from None
    if problems:
        raise InvalidRequest(problems)
    connection_id = request.connection_id or derive_connection_id(request.connection_name)
    whole_bucket = request.location()[1] == ""

    def with_scope(answer: Accepted) -> Accepted:
        return {**answer, "warnings": [WHOLE_BUCKET_WARNING]} if whole_bucket else answer

    if idempotency_key is None:
        return with_scope(
            start_onboarding(dynamodb, sfn, raw, request, connection_id, state_machine_arn)
        ), False
    try:
        claim = idempotency.begin(
            dynamodb, idempotency_table, idempotency_key, idempotency.body_hash(raw), connection_id
        )
    except idempotency.IdempotencyKeyInProgress as in_progress:
        # The first request may have started its run and failed only to store its answer.
        replay = started_onboarding(dynamodb, sfn, raw, in_progress.connection_id)
        if replay is None:
            raise
        return with_scope(replay), True
    if claim.response is not None:
        return cast(Accepted, claim.response), True
    try:
        answer = with_scope(
            start_onboarding(
                dynamodb, sfn, raw, request, claim.connection_id, state_machine_arn, adopt=claim.taken_over
            )
        )
    except Exception:
        with contextlib.suppress(ClientError):
            idempotency.release(dynamodb, idempotency_table, claim)
        raise
    try:
        idempotency.complete(dynamodb, idempotency_table, claim, dict(answer))
    except ClientError as error:
        # The run is started: that is the answer. A repeat of this request finds the run (above).
        logger.warning("Idempotency answer not stored", error_code=error_code(error))
    return answer, False


def _token_problem(token: str, bucket: str | None) -> str | None:
    """Why `token` is not a next_token this listing issued; a forged key would reach DynamoDB otherwise."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, RecursionError):
        key = None
    expected = {"connection_id", "bucket"} if bucket else {"connection_id"}
    if (
        not isinstance(key, dict)
        or set(key) != expected
        or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
        or (bucket and key["bucket"]["S"] != bucket)
        # DynamoDB rejects an empty or oversized key value; that would be a 500, not the caller's 400.
        or not _plausible_id(key["connection_id"]["S"])
    ):
        return "is not a next_token of this listing (same bucket filter); start without it"
    return None


def list_connections(dynamodb: Any, query: Mapping[str, str]) -> ConnectionPage:
    # `?bucket=` (empty) means no filter, as a form with an empty field sends it.
    params = {key: value for key, value in query.items() if value != ""}
    problems = [
        {"field": key, "message": "unknown query parameter; allowed: " + ", ".join(LIST_PARAMETERS)}
        for key in params
        if key not in LIST_PARAMETERS
    ]
    bucket, status, token = params.get("bucket"), params.get("status"), params.get("next_token")
    if bucket is not None and (problem := bucket_name_problem(bucket)):
        problems.append({"field": "bucket", "message": problem})
    if status is not None and status not in registry.STATUSES:
        problems.append({"field": "status", "message": "must be one of " + ", ".join(registry.STATUSES)})
    raw_limit = params.get("limit", str(LIST_LIMIT_DEFAULT))
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3 else 0
    if not 1 <= limit <= LIST_LIMIT_MAX:
        problems.append({"field": "limit", "message": f"must be an integer from 1 to {LIST_LIMIT_MAX}"})
    if token is not None and (problem := _token_problem(token, bucket)):
        problems.append({"field": "next_token", "message": problem})
    if problems:
        raise InvalidRequest(problems)
    connections: list[Any] = []
    for _ in range(MAX_LIST_READS):
        page, token = registry.list_page(
            dynamodb, bucket=bucket, status=status, limit=limit - len(connections), next_token=token
        )
        connections += page
        if token is None or len(connections) >= limit:
            break
    return {"connections": connections, "next_token": token}


def get_connection(dynamodb: Any, connection_id: str) -> ConnectionRecord:
    record = registry.get(dynamodb, connection_id) if _plausible_id(connection_id) else None
    if record is None:
        raise ConnectionNotFound(f"no connection {connection_id!r}")
    return record  # type: ignore[return-value]


def delete_connection(dynamodb: Any, sfn: Any, connection_id: str, state_machine_arn: str) -> Accepted:
    """Claim the connection for one offboarding run and start it, or answer with the one that holds it.

    The claim is a conditional write here, before the run starts, so concurrent DELETEs start one run.
    """
    current = get_connection(dynamodb, connection_id)  # 404 before anything else
    name = f"{connection_id}-offboard-{uuid.uuid4().hex[:8]}"
    execution_arn = execution_arn_for(state_machine_arn, name)
    record = claims.claim_offboarding(dynamodb, sfn, connection_id, execution_arn)
    if record is None:
        return accepted(connection_id, "DELETED", current.get("offboarding_execution_arn"))
    if record.get("offboarding_execution_arn") != execution_arn:
        return accepted(connection_id, "DEPROVISIONING", record.get("offboarding_execution_arn"))
    try:
        sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps({"connection_id": connection_id})
        )
    except ClientError:
        if claims.run_state(sfn, execution_arn) == "MISSING":
            with contextlib.suppress(ClientError, ConnectionBusy):
                claims.release_offboarding(dynamodb, record)
            raise
    return accepted(connection_id, "DEPROVISIONING", execution_arn)


def _plausible_id(connection_id: str) -> bool:
    # Anything else cannot be in the registry, and an oversized key would be a DynamoDB error, not a 404.
    return len(connection_id) <= CONNECTION_ID_MAX and bool(CONNECTION_ID_PATTERN.fullmatch(connection_id))


# --- routes ---------------------------------------------------------------------------------------------


def _json(status_code: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status_code, content_type="application/json", body=body, headers=headers)


def _accepted_response(answer: Accepted, *, replayed: bool = False) -> Response[Any]:
    headers = {"Location": answer["url"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(202, answer, headers)


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
    )
    logger.info(
        "Onboarding accepted",
        connection_id=answer["connection_id"],
        execution_arn=answer["execution_arn"],
        replayed=replayed,
    )
    return _accepted_response(answer, replayed=replayed)


@app.post("/connections/plan", summary="Plan an onboarding: what it would do, changing nothing")
def post_plan() -> Response[Any]:
    event = app.current_event
    raw = read_json_body(event.headers.get("content-type"), event.body, bool(event.is_base64_encoded))
    function_name = os.environ["PLAN_ONBOARDING_FUNCTION"]
    return _json(200, plan_client.request_plan(aws.client("lambda"), function_name, raw, SETTINGS))


@app.get("/connections", summary="List connections")
def get_connections() -> Response[Any]:
    page = list_connections(aws.client("dynamodb"), app.current_event.query_string_parameters)
    return _json(200, page)


@app.get("/connections/<connection_id>", summary="Read one connection")
def get_one_connection(connection_id: str) -> Response[Any]:
    return _json(200, get_connection(aws.client("dynamodb"), connection_id))


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
    return _accepted_response(answer)


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


def _errors(status_code: int, field: str, message: str) -> Response[Any]:
    return _json(status_code, {"errors": [{"field": field, "message": message}]})


@app.exception_handler(InvalidRequest)
def _invalid_request(error: InvalidRequest) -> Response[Any]:
    return _json(400, {"errors": error.errors})


@app.exception_handler(UnsupportedMediaType)
def _unsupported_media_type(error: UnsupportedMediaType) -> Response[Any]:
    return _errors(415, "Content-Type", str(error))


@app.exception_handler(PayloadTooLarge)
def _payload_too_large(error: PayloadTooLarge) -> Response[Any]:
    return _errors(413, "body", str(error))


@app.exception_handler(ConnectionNotFound)
def _not_a_connection(error: ConnectionNotFound) -> Response[Any]:
    return _errors(404, "connection_id", str(error))


@app.exception_handler(ConnectionAlreadyExists)
def _connection_exists(error: ConnectionAlreadyExists) -> Response[Any]:
    return _errors(409, "connection_id", str(error))


@app.exception_handler(ConnectionBusy)
def _connection_busy(error: ConnectionBusy) -> Response[Any]:
    return _errors(409, "connection_id", str(error))


@app.exception_handler(idempotency.IdempotencyKeyReused)
def _key_reused(error: idempotency.IdempotencyKeyReused) -> Response[Any]:
    return _errors(422, IDEMPOTENCY_KEY_HEADER, str(error))


@app.exception_handler(idempotency.IdempotencyKeyInProgress)
def _key_in_progress(error: idempotency.IdempotencyKeyInProgress) -> Response[Any]:
    return _errors(409, IDEMPOTENCY_KEY_HEADER, str(error))


@app.not_found
def _no_route(error: NotFoundError) -> Response[Any]:
    event = app.current_event
    return _errors(404, "path", f"no route {event.request_context.http.method} {event.raw_path}")


@app.exception_handler(plan_client.PlanUnavailable)
def _plan_unavailable(error: plan_client.PlanUnavailable) -> Response[Any]:
    return _errors(503, "request", str(error))


@app.exception_handler(ClientError)
def _aws_failure(error: ClientError) -> Response[Any]:
    # The log keeps the operation and code; the caller learns only whether retrying can help.
    code = error_code(error)
    logger.exception("AWS call failed", operation=error.operation_name, error_code=code)
    if code in _THROTTLING_CODES:
        return _errors(503, "request", "the service is busy; retry shortly")
    return _errors(500, "request", "the request could not be completed; retry later")


@app.exception_handler(Exception)
def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("Unexpected error", error_type=type(error).__name__)
    return _errors(500, "request", "the request could not be completed; retry later")


@logger.inject_lambda_context(log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
