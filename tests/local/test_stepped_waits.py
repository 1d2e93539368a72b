"""Stepped Wait states (provisioner_local.stepped_waits): a Wait parks until a test releases it, the emulated
clock moves on by the whole wait when it does, and a stopped execution leaves its Wait at once."""

from __future__ import annotations

import threading
import time

from provisioner_local.stepped_waits import SteppedWaits

ARN = "arn:aws:states:us-east-1:123456789012:execution:machine:run"


def _park(waits: SteppedWaits, seconds: float, running: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=waits.hold, args=(ARN, seconds, running.is_set), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while waits.parked(ARN) is None:
        assert time.monotonic() < deadline, "the Wait never parked"
        time.sleep(0.005)
    return thread


def test_a_wait_stays_parked_until_released_and_its_time_passes_on_the_clock() -> None:
    skipped: list[float] = []
    waits = SteppedWaits(skipped.append)
    running = threading.Event()
    running.set()
    thread = _park(waits, 86400, running)
    thread.join(0.3)
    assert thread.is_alive(), "a stepped Wait ended on its own"
    assert skipped == []
    assert waits.step(ARN)
    thread.join(5)
    assert not thread.is_alive()
    assert skipped == [86400]
    assert waits.parked(ARN) is None
    assert not waits.step(ARN), "a Wait that ended was stepped again"


def test_a_hold_is_released_once() -> None:
    skipped: list[float] = []
    waits = SteppedWaits(skipped.append)
    running = threading.Event()
    running.set()
    thread = _park(waits, 5, running)
    parked = waits.parked(ARN)
    assert parked is not None
    assert waits.release(parked)
    assert not waits.release(parked)
    thread.join(5)
    assert skipped == [5]


def test_a_stopped_execution_leaves_its_wait_without_moving_the_clock() -> None:
    skipped: list[float] = []
    waits = SteppedWaits(skipped.append)
    running = threading.Event()
    running.set()
    thread = _park(waits, 60, running)
    running.clear()
    thread.join(5)
    assert not thread.is_alive()
    assert skipped == []
    assert waits.parked(ARN) is None


def test_release_all_lets_every_parked_wait_go() -> None:
    waits = SteppedWaits(lambda seconds: None)
    running = threading.Event()
    running.set()
    thread = _park(waits, 60, running)
    waits.release_all()
    thread.join(5)
    assert not thread.is_alive()
