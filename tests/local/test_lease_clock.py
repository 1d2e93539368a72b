"""The functions' bucket leases on the lease clock (provisioner_local.lease_clock): a run waiting alone makes
every attempt and pays no real time, a leaked share still lapses only after 60 s of that clock, and while
another handler works the wait is real and the clock stands still."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from provisioner_core import objects_lease
from provisioner_core.errors import BucketBusy
from provisioner_local.emulator import LocalStack
from provisioner_local.lambda_runtime import IN_FLIGHT
from provisioner_local.lease_clock import LEASE_CLOCK, TARGETS, WAIT_MODULE, LeaseTarget


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_each_lease_still_takes_its_clock_and_sleep_as_keyword_defaults(target: LeaseTarget) -> None:
    try:
        defaults = target.defaults()
    except (ImportError, AttributeError) as error:
        pytest.fail(f"lease {target} is gone or no longer a @contextmanager ({error})")
    assert {"clock", "sleep"} <= set(defaults), f"{target} no longer takes clock= and sleep= keywords"


def test_the_lease_wait_still_reads_time_through_its_module() -> None:
    module = __import__(WAIT_MODULE, fromlist=["time"])
    assert hasattr(module, "time"), f"{WAIT_MODULE} no longer reads time.monotonic through its module"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0) as local:
        yield local


def _leak_a_share(stack: LocalStack) -> tuple[Any, str, str]:
    """A write-probe share taken on the lease clock and never given back, as after a lost reply."""
    dynamodb, table = stack.client("dynamodb"), stack.tables["BucketLeasesTable"]
    bucket = f"acme-{uuid.uuid4().hex[:12]}"
    taken = objects_lease.try_acquire(
        dynamodb, bucket, objects_lease.WRITE_PROBES, table=table, clock=LEASE_CLOCK.epoch
    )
    assert taken is not None
    return dynamodb, table, bucket


def _wait_for_reads(dynamodb: Any, table: str, bucket: str, **wait: Any) -> None:
    with objects_lease.objects_lease(dynamodb, bucket, objects_lease.LABELLERR_READS, table=table, **wait):
        pass


def test_a_leaked_share_lapses_after_60_seconds_of_waiting_alone_without_a_real_minute(
    stack: LocalStack,
) -> None:
    assert LEASE_CLOCK.installed
    dynamodb, table, bucket = _leak_a_share(stack)
    before, started = LEASE_CLOCK.skipped, time.monotonic()

    def waited() -> float:
        """Seconds on the lease clock since the share was leaked: real ones and skipped ones."""
        return LEASE_CLOCK.skipped - before + time.monotonic() - started

    # Two whole waits (20 s each) end BucketBusy, as in AWS: the share is 40 s old, not yet lapsed.
    for _ in range(2):
        with pytest.raises(BucketBusy):
            _wait_for_reads(dynamodb, table, bucket)
    # At least 40 s on the lease clock; how much more depends on how loaded the machine is (real seconds count).
    assert waited() >= 40
    _wait_for_reads(dynamodb, table, bucket)
    assert waited() >= 60
    assert time.monotonic() - started < 45, "the lease waits took real time (a real minute)"


def test_while_another_handler_works_a_lease_wait_is_real_and_the_clock_stands_still(
    stack: LocalStack,
) -> None:
    dynamodb, table, bucket = _leak_a_share(stack)
    working, done = threading.Event(), threading.Event()

    def another_handler() -> None:
        with IN_FLIGHT.running():
            working.set()
            done.wait(30)

    thread = threading.Thread(target=another_handler, daemon=True)
    thread.start()
    assert working.wait(5)
    try:
        before, started = LEASE_CLOCK.skipped, time.monotonic()
        with pytest.raises(BucketBusy):
            _wait_for_reads(dynamodb, table, bucket, wait_seconds=0.5)
        assert time.monotonic() - started >= 0.5
        assert LEASE_CLOCK.skipped == before
    finally:
        done.set()
        thread.join(5)
