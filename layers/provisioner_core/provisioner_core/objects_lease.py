"""A per-bucket lease on the bucket's objects, so that a short-lived object never meets a reader that
cannot step over it.

Labellerr's connection test lists the connection's prefix and reads what it found; it cannot know that
another run's write probe (or its own export test's) was there for a second only, and fails "cannot read"
when that object is gone between its list and its get. So the runs on one bucket take turns by kind:

- `WRITE_PROBES`: our write probes. They may overlap each other: Verify access never samples a probe,
  and samples again when an object it listed disappears.
- `LABELLERR_READS`: Labellerr's import tests. They only read, so they may overlap each other.
- `labellerr_write(holder)`: Labellerr's export test reads, then writes and deletes an object of its own:
  it overlaps nothing.

The lease is one DynamoDB item per bucket (`<bucket>#objects`, a key no bucket name can take, in the table
of the CORS lease): the kind holding it, how many hold it, a generation, an expiry (a crashed holder's share
lapses with it). A kind that has to wait marks the item `wanted`, and from then on no new holder of the
current kind joins: the holders drain and the waiting kind goes next, so a stream of one kind cannot starve
the other.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.lease import table_name, wait_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

WRITE_PROBES = "write-probes"
LABELLERR_READS = "labellerr-reads"
# Long enough for a Labellerr test (10 s a call, a few retries); a crashed holder blocks no longer.
LEASE_SECONDS = 60
# A probe window is three S3 calls and a Labellerr test a few seconds: most waits end inside the step.
WAIT_SECONDS = 20.0

_log = logging.getLogger(__name__)


def labellerr_write(holder: str) -> str:
    """A kind of its own: nothing shares the bucket's objects with a Labellerr test that writes."""
    return f"labellerr-write:{holder}"


def item_key(bucket: str) -> dict[str, dict[str, str]]:
    # '#' is not allowed in a bucket name, so this key never meets the bucket's CORS lease.
    return {"bucket": {"S": f"{bucket}#objects"}}


def _conditional(dynamodb: DynamoDBClient, **update: Any) -> dict[str, Any] | None:
    """The item's new attributes, or None when the condition failed."""
    try:
        return dynamodb.update_item(ReturnValues="ALL_NEW", **update).get("Attributes", {})
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return None
        raise


def try_acquire(
    dynamodb: DynamoDBClient, bucket: str, kind: str, *, table: str, clock: Callable[[], float]
) -> str | None:
    """The generation joined, or None when another kind holds the objects."""
    now = int(clock())
    values = {":now": {"N": str(now)}, ":expires": {"N": str(now + LEASE_SECONDS)}, ":one": {"N": "1"}}
    fresh = {"S": uuid.uuid4().hex}
    # Free (never held, drained, or lapsed): this kind takes it, with a new generation.
    taken = _conditional(
        dynamodb,
        TableName=table,
        Key=item_key(bucket),
        UpdateExpression="SET kind = :kind, holders = :one, expires_at = :expires, generation = :fresh"
        " REMOVE wanted",
        ConditionExpression="attribute_not_exists(holders) OR holders < :one OR expires_at < :now",
        ExpressionAttributeValues={**values, ":kind": {"S": kind}, ":fresh": fresh},
    )
    if taken is not None:
        return fresh["S"]
    # Held by this kind, and no other kind is waiting: join it.
    joined = _conditional(
        dynamodb,
        TableName=table,
        Key=item_key(bucket),
        UpdateExpression="SET holders = holders + :one, expires_at = :expires",
        ConditionExpression="kind = :kind AND expires_at >= :now"
        " AND (attribute_not_exists(wanted) OR wanted = :kind)",
        ExpressionAttributeValues={**values, ":kind": {"S": kind}},
    )
    if joined is not None:
        return str(joined["generation"]["S"])
    # Held by another kind: ask it to admit nobody new, so that it drains.
    _conditional(
        dynamodb,
        TableName=table,
        Key=item_key(bucket),
        UpdateExpression="SET wanted = :kind",
        ConditionExpression="attribute_exists(kind) AND kind <> :kind AND attribute_not_exists(wanted)",
        ExpressionAttributeValues={":kind": {"S": kind}},
    )
    return None


def release(dynamodb: DynamoDBClient, bucket: str, generation: str, *, table: str) -> None:
    # A lapsed share is not ours to give back: the generation has changed.
    _conditional(
        dynamodb,
        TableName=table,
        Key=item_key(bucket),
        UpdateExpression="SET holders = holders - :one",
        ConditionExpression="generation = :generation AND holders >= :one",
        ExpressionAttributeValues={":generation": {"S": generation}, ":one": {"N": "1"}},
    )


@contextmanager
def objects_lease(
    dynamodb: DynamoDBClient,
    bucket: str,
    kind: str,
    *,
    table: str | None = None,
    wait_seconds: float = WAIT_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold a share of the bucket's objects for the block; BucketBusy (retryable) after `wait_seconds`."""
    table = table or table_name()
    generation = wait_for(
        lambda: try_acquire(dynamodb, bucket, kind, table=table, clock=clock),
        busy=f"bucket {bucket!r}'s objects are being tested by another run; retry shortly",
        wait_seconds=wait_seconds,
        sleep=sleep,
    )
    try:
        yield
    finally:
        try:
            release(dynamodb, bucket, generation, table=table)
        except ClientError as error:
            # The block's work is done; failing the step for its lock would repeat it. The share lapses.
            _log.warning("Objects lease not released (lapses in %s s): %s", LEASE_SECONDS, error_code(error))
