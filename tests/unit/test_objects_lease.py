"""The bucket's objects lease: probes share with probes, Labellerr's reads with reads, and a kind that waits
is served before newcomers of the kind that holds it."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner_core import objects_lease
from provisioner_core.errors import BucketBusy
from provisioner_core.objects_lease import (
    LABELLERR_READS,
    WRITE_PROBES,
    labellerr_write,
    release,
    try_acquire,
)

TABLE = "BucketLeasesTable"
BUCKET = "acme-datasets"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def acquire(dynamodb: Any, kind: str, clock: Clock) -> str | None:
    return try_acquire(dynamodb, BUCKET, kind, table=TABLE, clock=clock)


def test_probes_share_and_a_labellerr_read_waits_until_the_last_one_ends(dynamodb: Any, clock: Clock) -> None:
    first, second = acquire(dynamodb, WRITE_PROBES, clock), acquire(dynamodb, WRITE_PROBES, clock)
    assert first is not None
    assert first == second
    assert acquire(dynamodb, LABELLERR_READS, clock) is None
    release(dynamodb, BUCKET, first, table=TABLE)
    assert acquire(dynamodb, LABELLERR_READS, clock) is None
    release(dynamodb, BUCKET, second, table=TABLE)
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None


def test_labellerr_reads_share_with_each_other_and_exclude_probes(dynamodb: Any, clock: Clock) -> None:
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None
    assert acquire(dynamodb, WRITE_PROBES, clock) is None


def test_a_labellerr_test_that_writes_shares_with_nothing(dynamodb: Any, clock: Clock) -> None:
    export = acquire(dynamodb, labellerr_write("connection:a"), clock)
    assert export is not None
    for kind in (WRITE_PROBES, LABELLERR_READS, labellerr_write("connection:b")):
        assert acquire(dynamodb, kind, clock) is None
    release(dynamodb, BUCKET, export, table=TABLE)
    assert acquire(dynamodb, labellerr_write("connection:b"), clock) is not None


def test_a_waiting_kind_stops_newcomers_so_the_holders_drain(dynamodb: Any, clock: Clock) -> None:
    probe = acquire(dynamodb, WRITE_PROBES, clock)
    assert probe is not None
    assert acquire(dynamodb, LABELLERR_READS, clock) is None  # marks the item wanted
    assert acquire(dynamodb, WRITE_PROBES, clock) is None, "a new probe jumped the waiting Labellerr test"
    release(dynamodb, BUCKET, probe, table=TABLE)
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None
    # The turn taken clears the wish: Labellerr's reads admit each other again.
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None


def test_a_crashed_holder_blocks_only_until_its_share_lapses(dynamodb: Any, clock: Clock) -> None:
    crashed = acquire(dynamodb, WRITE_PROBES, clock)
    assert crashed is not None
    assert acquire(dynamodb, LABELLERR_READS, clock) is None
    clock.now += objects_lease.LEASE_SECONDS + 1
    taken = acquire(dynamodb, LABELLERR_READS, clock)
    assert taken is not None
    assert taken != crashed
    # The late release of the lapsed share does not give back the new holder's.
    release(dynamodb, BUCKET, crashed, table=TABLE)
    assert acquire(dynamodb, WRITE_PROBES, clock) is None


def test_the_objects_lease_is_a_separate_item_from_the_cors_lease(dynamodb: Any, clock: Clock) -> None:
    with objects_lease.objects_lease(dynamodb, BUCKET, WRITE_PROBES, table=TABLE, clock=clock):
        keys = {item["bucket"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"]}
    assert keys == {f"{BUCKET}#objects"}


def test_the_lease_is_given_back_when_the_block_fails(dynamodb: Any, clock: Clock) -> None:
    with (
        pytest.raises(RuntimeError),
        objects_lease.objects_lease(dynamodb, BUCKET, WRITE_PROBES, table=TABLE, clock=clock),
    ):
        raise RuntimeError("probe failed")
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None


def test_waiting_too_long_is_bucket_busy_which_the_state_machine_retries(dynamodb: Any, clock: Clock) -> None:
    assert acquire(dynamodb, LABELLERR_READS, clock) is not None
    slept: list[float] = []
    with (
        pytest.raises(BucketBusy, match="acme-datasets"),
        objects_lease.objects_lease(
            dynamodb, BUCKET, WRITE_PROBES, table=TABLE, clock=clock, wait_seconds=0, sleep=slept.append
        ),
    ):
        pytest.fail("entered while Labellerr's test held the objects")
