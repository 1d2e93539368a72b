"""Idempotency-Key for the API: the same key and body get the same answer, and only one run is started.

One item per key in the idempotency table (hash key `idempotency_key`, TTL attribute `expires_at`):
the body's hash, IN_PROGRESS / COMPLETED / RELEASED, the connection id the key is bound to and, once
COMPLETED, the answer. The answers hold ids, a status and ARNs: never key material.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import ProvisionerError

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
# The work failed before anything was started: the key may be used again, with any body.
RELEASED = "RELEASED"

RETENTION_SECONDS = 24 * 60 * 60
# Longer than the function's timeout (30 s): an item still IN_PROGRESS after this lost its invocation.
LEASE_SECONDS = 60
WAIT_SECONDS = 2.0
POLL_SECONDS = 0.1


class IdempotencyKeyReused(ProvisionerError):
    """The key was already used with a different body."""


class IdempotencyKeyInProgress(ProvisionerError):
    """Another request with this key is still running (or died before storing its answer); retry shortly."""

    def __init__(self, message: str, connection_id: str) -> None:
        self.connection_id = connection_id
        super().__init__(message)


@dataclass(frozen=True)
class Claim:
    """What `begin` decided: replay `response`, or (when it is None) do the work under `lease`."""

    key: str
    body_hash: str
    connection_id: str
    lease: str
    response: dict[str, Any] | None = None
    # True when a dead invocation's item was taken over: it may already have claimed `connection_id`.
    taken_over: bool = False


def body_hash(body: Any) -> str:
    """Hash of the parsed body, so key order and white space do not make two equal bodies differ."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def begin(
    dynamodb: Any,
    table: str,
    key: str,
    hashed_body: str,
    connection_id: str,
    *,
    wait_seconds: float | None = None,
    poll_seconds: float | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Claim:
    """Take the key for this request, or return the answer already stored for it.

    Raises IdempotencyKeyReused when the key came with another body, and IdempotencyKeyInProgress when
    another request holds it for longer than `wait_seconds` (default WAIT_SECONDS).
    """
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    while True:
        now = int(clock())
        lease = uuid.uuid4().hex
        try:
            dynamodb.put_item(
                TableName=table,
                Item={
                    "idempotency_key": {"S": key},
                    "body_hash": {"S": hashed_body},
                    "status": {"S": IN_PROGRESS},
                    "connection_id": {"S": connection_id},
                    "lease": {"S": lease},
                    "in_progress_until": _number(now + LEASE_SECONDS),
                    "expires_at": _number(now + RETENTION_SECONDS),
                },
                # TTL deletes lazily (within days), so an expired item counts as absent.
                ConditionExpression="attribute_not_exists(idempotency_key) OR expires_at < :now "
                "OR #status = :released",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":now": _number(now), ":released": {"S": RELEASED}},
            )
            return Claim(key, hashed_body, connection_id, lease)
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
        current = dynamodb.get_item(
            TableName=table, Key={"idempotency_key": {"S": key}}, ConsistentRead=True
        ).get("Item")
        if current is not None and current["status"]["S"] != RELEASED:
            if current["body_hash"]["S"] != hashed_body:
                raise IdempotencyKeyReused(
                    "this key was already used with a different request body; use a new key for a new request"
                )
            if current["status"]["S"] == COMPLETED:
                return Claim(
                    key, hashed_body, current["connection_id"]["S"], "", json.loads(current["response"]["S"])
                )
            if int(current["in_progress_until"]["N"]) < now:
                claim = _take_over(dynamodb, table, current, now)
                if claim is not None:
                    return claim
        if time.monotonic() >= deadline:
            raise IdempotencyKeyInProgress(
                "a request with this key is still being processed; retry in a few seconds",
                current["connection_id"]["S"] if current is not None else connection_id,
            )
        sleep(POLL_SECONDS if poll_seconds is None else poll_seconds)


def _take_over(dynamodb: Any, table: str, current: dict[str, Any], now: int) -> Claim | None:
    """Hold a dead invocation's item, keeping its connection id so a derived id is not derived twice."""
    lease = uuid.uuid4().hex
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"idempotency_key": current["idempotency_key"]},
            UpdateExpression="SET lease = :lease, in_progress_until = :until",
            ConditionExpression="#status = :in_progress AND lease = :old_lease",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":lease": {"S": lease},
                ":until": _number(now + LEASE_SECONDS),
                ":in_progress": {"S": IN_PROGRESS},
                ":old_lease": current["lease"],
            },
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        return None
    return Claim(
        current["idempotency_key"]["S"],
        current["body_hash"]["S"],
        current["connection_id"]["S"],
        lease,
        taken_over=True,
    )


def complete(
    dynamodb: Any,
    table: str,
    claim: Claim,
    response: dict[str, Any],
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Store the answer, so a repeat of this request gets it without doing anything."""
    dynamodb.update_item(
        TableName=table,
        Key={"idempotency_key": {"S": claim.key}},
        UpdateExpression="SET #status = :completed, #response = :response, expires_at = :expires "
        "REMOVE in_progress_until",
        ConditionExpression="lease = :lease",
        ExpressionAttributeNames={"#status": "status", "#response": "response"},
        ExpressionAttributeValues={
            ":completed": {"S": COMPLETED},
            ":response": {"S": json.dumps(response, separators=(",", ":"))},
            ":expires": _number(int(clock()) + RETENTION_SECONDS),
            ":lease": {"S": claim.lease},
        },
    )


def release(dynamodb: Any, table: str, claim: Claim) -> None:
    """Free the key after a failure that started nothing, unless another invocation holds it by now."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"idempotency_key": {"S": claim.key}},
            UpdateExpression="SET #status = :released REMOVE in_progress_until",
            ConditionExpression="lease = :lease AND #status = :in_progress",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":released": {"S": RELEASED},
                ":lease": {"S": claim.lease},
                ":in_progress": {"S": IN_PROGRESS},
            },
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
