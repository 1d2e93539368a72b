"""POST /connections: validate the request, then claim the id and start its onboarding run, once per
Idempotency-Key."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from provisioner_api.onboarding_claim import claim_record, put_claim, undo_claim
from provisioner_api.runs import execution_arn_for, execution_name, first_attempt, onboarding_input
from provisioner_api.runtime import SETTINGS
from provisioner_api.shapes import Accepted, accepted
from provisioner_core import claims, idempotency, registry
from provisioner_core.aws import error_code
from provisioner_core.errors import ConnectionAlreadyExists, ConnectionBusy, InvalidRequest
from provisioner_core.naming import derive_connection_id
from provisioner_core.request import ConnectionRequest, parse_request

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

# Names `<id>`, `<id>-2`, ...: Step Functions keeps a name for 90 days after its run, so a connection
# onboarded again after FAILED or DELETED needs the next one.
MAX_NAME_ATTEMPTS = 10
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
WHOLE_BUCKET_WARNING = "the prefix is empty: this connection grants the whole bucket"


def idempotency_key_problems(key: str | None) -> list[dict[str, str]]:
    if key is None or _IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        return []
    return [{"field": IDEMPOTENCY_KEY_HEADER, "message": "must be 1-255 visible ASCII characters"}]


def start_onboarding(
    dynamodb: DynamoDBClient,
    sfn: SFNClient,
    raw: Mapping[str, Any],
    request: ConnectionRequest,
    connection_id: str,
    state_machine_arn: str,
    *,
    adopt: bool = False,
) -> Accepted:
    """Claim the id in the registry, then start the onboarding run that owns the claim.

    `adopt`: the request has an Idempotency-Key and may have taken over a dead invocation's, which may
    have claimed the id already; StartExecution with the same name and input then returns that run (while
    it runs) instead of a new one.
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
                ours = put_claim(dynamodb, wanted, previous)
            else:
                # An earlier run the registry no longer remembers used the last name: move the claim on.
                ours = put_claim(dynamodb, {**ours, "execution_arn": execution_arn}, ours)
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
            undo_claim(dynamodb, ours, previous_item)
        raise


def already_message(sfn: SFNClient, connection_id: str, record: Mapping[str, Any]) -> str:
    status = record["status"]
    if status == "PROVISIONING" and claims.holder_state(sfn, dict(record)) == "ENDED":
        return (
            f"connection {connection_id!r} is PROVISIONING, but its onboarding run ended without recording "
            f"how; DELETE /connections/{connection_id} removes whatever it left, then the id is free"
        )
    return f"connection {connection_id!r} is already {status}; offboard it or choose another connection_id"


def started_onboarding(
    dynamodb: DynamoDBClient, sfn: SFNClient, raw: Mapping[str, Any], connection_id: str
) -> Accepted | None:
    """The answer for a request whose onboarding was started although its reply was never stored: the
    registry's record names a run whose input is exactly this request's."""
    record = registry.get(dynamodb, connection_id)
    execution_arn = record.get("execution_arn") if record else None
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
    dynamodb: DynamoDBClient,
    sfn: SFNClient,
    raw: Any,
    idempotency_key: str | None,
    *,
    state_machine_arn: str,
    idempotency_table: str,
    lambda_context: Any = None,
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
    # With a key, a derived id comes from the key: a repeat that takes over a dead invocation's key
    # derives the id that invocation may already have claimed and started.
    connection_id = request.connection_id or derive_connection_id(request.connection_name, idempotency_key)
    whole_bucket = request.location()[1] == ""

    def with_scope(answer: Accepted) -> Accepted:
        return {**answer, "warnings": [WHOLE_BUCKET_WARNING]} if whole_bucket else answer

    if idempotency_key is None:
        return with_scope(
            start_onboarding(dynamodb, sfn, raw, request, connection_id, state_machine_arn)
        ), False

    def onboard() -> Accepted:
        # adopt: this may be a takeover of a dead invocation's key whose run is already started.
        return with_scope(
            start_onboarding(dynamodb, sfn, raw, request, connection_id, state_machine_arn, adopt=True)
        )

    def in_progress_answer() -> Accepted | None:
        # The first request may have started its run and failed only to store its answer.
        replay = started_onboarding(dynamodb, sfn, raw, connection_id)
        return None if replay is None else with_scope(replay)

    answer, replayed = idempotency.once(
        dynamodb,
        idempotency_table,
        idempotency_key,
        raw,
        onboard,
        in_progress_answer=in_progress_answer,
        lambda_context=lambda_context,
    )
    return cast(Accepted, answer), replayed
