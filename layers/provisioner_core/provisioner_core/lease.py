"""A per-bucket lease, so that CORS read-modify-writes on one bucket never interleave.

S3 has no conditional PutBucketCors: two runs that read, merge and write the same bucket's configuration
at once would lose a rule. Every such write happens while holding the bucket's lease: a DynamoDB item
written only if absent, expired or already ours, and deleted on every path (an expiry covers crashes).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.errors import BucketBusy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LEASE_SECONDS = 60
T = TypeVar("T")
# Waiting here is cheaper than a state machine retry when the holder is about to finish.
WAIT_SECONDS = 5.0

_log = logging.getLogger(__name__)


def table_name() -> str:
    return os.environ["BUCKET_LEASES_TABLE"]


def lease_holder(connection_id: str) -> str:
    """One live run per connection id at a time (the registry's claim), so the connection is the holder:
    a later run of the same connection (a DELETE after a failed one) takes over a lease its predecessor
    could not release, instead of waiting for it to expire."""
    return f"connection:{connection_id}"


def try_acquire(
    dynamodb: DynamoDBClient, bucket: str, holder: str, *, table: str, clock: Callable[[], float]
) -> bool:
    now = int(clock())
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "bucket": {"S": bucket},
                "holder": {"S": holder},
                "expires_at": {"N": str(now + LEASE_SECONDS)},
            },
            # "bucket" is a DynamoDB reserved word, hence the name placeholder.
            ConditionExpression="attribute_not_exists(#bucket) OR expires_at < :now OR holder = :holder",
            ExpressionAttributeNames={"#bucket": "bucket"},
            ExpressionAttributeValues={":now": {"N": str(now)}, ":holder": {"S": holder}},
        )
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release(dynamodb: DynamoDBClient, bucket: str, holder: str, *, table: str) -> None:
    try:
        dynamodb.delete_item(
            TableName=table,
            Key={"bucket": {"S": bucket}},
            ConditionExpression="holder = :holder",
            ExpressionAttributeValues={":holder": {"S": holder}},
        )
    except ClientError as error:
        # Expired and taken over by another run: not ours to delete any more.
        if error_code(error) != "ConditionalCheckFailedException":
            raise


def wait_for(
    acquire: Callable[[], T | None], *, busy: str, wait_seconds: float, sleep: Callable[[float], None]
) -> T:
    """What `acquire` returns once it is not None, trying with jittered backoff; BucketBusy(busy) after
    `wait_seconds`. Waiting here is cheaper than a state machine retry when the holder is about to finish."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while (acquired := acquire()) is None:
        if time.monotonic() >= deadline:
            raise BucketBusy(busy)
        # Jitter, not cryptography.
        sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311  # nosec B311
        delay = min(delay * 2, 0.5)
    return acquired


@contextmanager
def bucket_lease(
    dynamodb: DynamoDBClient,
    bucket: str,
    holder: str,
    *,
    table: str | None = None,
    wait_seconds: float = WAIT_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the bucket's lease for the block; BucketBusy (retryable) when another run keeps it too long."""
    table = table or table_name()
    wait_for(
        lambda: try_acquire(dynamodb, bucket, holder, table=table, clock=clock) or None,
        busy=f"bucket {bucket!r} is being changed by another run; retry shortly",
        wait_seconds=wait_seconds,
        sleep=sleep,
    )
    try:
        yield
    finally:
        try:
            release(dynamodb, bucket, holder, table=table)
        except ClientError as error:
            # The block's work is done; failing the step for its lock would undo or repeat that work.
            # The lease expires by itself, and the same connection's next run may take it over at once.
            _log.warning("Bucket lease not released (expires in %s s): %s", LEASE_SECONDS, error_code(error))
