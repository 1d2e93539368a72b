"""Idempotency-Key for the API, on Powertools' Idempotency utility.

Powertools keeps one item per key in the idempotency table (hash key `idempotency_key`, TTL `expires_at`):
the body's hash (payload validation), INPROGRESS or COMPLETED, an in-progress expiry taken from the Lambda
context and, once COMPLETED, the answer. A failure of the work deletes the item, so the key may be used
again; an invocation that died leaves an item whose in-progress expiry lets the next request take it over.

What this module adds to the library: a bounded wait for a request still in progress (a concurrent
duplicate gets the first one's answer instead of an error), the caller's own answer when only storing it
failed (the run is started: that is the answer), and the AWS error itself when the table fails, so the API
still says whether retrying helps. The answers hold ids, a status and ARNs: never key material.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError

from provisioner_core.errors import ProvisionerError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)

RETENTION_SECONDS = 24 * 60 * 60
WAIT_SECONDS = 2.0
POLL_SECONDS = 0.1
# The table's own names (template.yaml), not Powertools' defaults `id` and `expiration`.
KEY_ATTR = "idempotency_key"
EXPIRY_ATTR = "expires_at"
# The same prefix in every function name and version, so a key stays bound across deployments.
KEY_PREFIX = "post-connections"
_REQUEST_ARGUMENT = "request"


class IdempotencyKeyReused(ProvisionerError):
    """The key was already used with a different body."""


class IdempotencyKeyInProgress(ProvisionerError):
    """Another request with this key is still running (or died before storing its answer); retry shortly."""


def persistence(dynamodb: DynamoDBClient, table: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=table, key_attr=KEY_ATTR, expiry_attr=EXPIRY_ATTR, boto3_client=dynamodb
    )


def config(lambda_context: Any = None) -> IdempotencyConfig:
    """The key is the header, the payload is the parsed body (so key order and white space do not count)."""
    result = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RETENTION_SECONDS,
        hash_function="sha256",
    )
    if lambda_context is not None:
        # In-progress expiry: an item still INPROGRESS after this invocation's deadline lost its invocation.
        result.register_lambda_context(lambda_context)
    return result


def once(
    dynamodb: DynamoDBClient,
    table: str,
    key: str,
    body: Any,
    work: Callable[[], Mapping[str, Any]],
    *,
    in_progress_answer: Callable[[], Mapping[str, Any] | None],
    lambda_context: Any = None,
    wait_seconds: float | None = None,
    poll_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], bool]:
    """(answer, replayed): `work()` at most once per key and body, or the answer stored for them.

    While another request holds the key, polls up to `wait_seconds` (default WAIT_SECONDS); then asks
    `in_progress_answer()` (the first request may have started its work and died before storing its answer)
    and raises IdempotencyKeyInProgress when it has none. Raises IdempotencyKeyReused when the key came with
    another body.
    """
    store = persistence(dynamodb, table)
    settings = config(lambda_context)
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    while True:
        try:
            return _attempt(store, settings, {"key": key, "body": body}, work)
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                "this key was already used with a different request body; use a new key for a new request"
            ) from None
        except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
            if time.monotonic() >= deadline:
                replay = in_progress_answer()
                if replay is None:
                    raise IdempotencyKeyInProgress(
                        "a request with this key is still being processed; retry in a few seconds"
                    ) from None
                return dict(replay), True
        sleep(POLL_SECONDS if poll_seconds is None else poll_seconds)


def _attempt(
    store: DynamoDBPersistenceLayer,
    settings: IdempotencyConfig,
    request: Mapping[str, Any],
    work: Callable[[], Mapping[str, Any]],
) -> tuple[dict[str, Any], bool]:
    outcome: dict[str, Any] = {}

    def run(request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            answer = dict(work())
        except Exception as error:
            outcome["error"] = error
            raise
        outcome["answer"] = answer
        return answer

    guarded = idempotent_function(
        run,
        data_keyword_argument=_REQUEST_ARGUMENT,
        persistence_store=store,
        config=settings,
        key_prefix=KEY_PREFIX,
    )
    try:
        answer = guarded(**{_REQUEST_ARGUMENT: request})
    except IdempotencyPersistenceLayerError as error:
        return _after_store_failure(error, outcome), False
    # Powertools returns a stored answer without calling `run`: that is a replay.
    return dict(answer), "answer" not in outcome


def _after_store_failure(
    error: IdempotencyPersistenceLayerError, outcome: Mapping[str, Any]
) -> dict[str, Any]:
    cause = error.__cause__
    if "answer" in outcome:
        # The work is done and only storing its answer failed: that is the answer. The item stays
        # INPROGRESS, and a repeat finds the work through `in_progress_answer` or after the item's expiry.
        code = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
        logger.warning("Idempotency answer not stored", error_code=code)
        return dict(outcome["answer"])
    if "error" in outcome:
        # The work failed and so did deleting the item: the work's own error is the answer; the key is
        # free again once the item's in-progress expiry is over.
        raise outcome["error"]
    if isinstance(cause, ClientError):
        # The table itself failed before the work began: the API maps AWS errors (503 for throttling).
        raise cause from None
    raise error
