"""The propagation model's pure parts (bench.propagation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.propagation import Work, retry_waits, schedule_table, simulate, verify_retrier
from provisioner_local.iam_propagation import FixedDelay

ASL = json.loads(
    (Path(__file__).resolve().parents[2] / "statemachine" / "onboard_connection.asl.json").read_text()
)
WORK = Work(before_verify_s=0.1, failed_attempt_s=0.02, passing_attempt_s=0.04, attach_to_key_s=0.05)


def test_the_waits_are_step_functions_own():
    assert retry_waits({"IntervalSeconds": 2, "BackoffRate": 1.3, "MaxAttempts": 3}) == pytest.approx(
        [2, 2.6, 3.38]
    )
    assert retry_waits({"IntervalSeconds": 1, "BackoffRate": 2, "MaxDelaySeconds": 3, "MaxAttempts": 4}) == [
        1,
        2,
        3,
        3,
    ]
    assert retry_waits(verify_retrier(ASL))[:3] == [1, 1, 1]


def test_a_run_is_verified_at_the_first_attempt_after_both_delays():
    run = simulate([1.0] * 10, WORK, key_delay=2.5, attach_delay=0.0)
    assert run is not None
    # Attempts start at 0.1, 1.12, 2.14, 3.16: the fourth passes, 0.04 s later.
    assert run.attempts == 4
    assert run.to_verified_s == pytest.approx(3.2)
    assert run.ideal_s == pytest.approx(2.6)
    assert run.waited_s == 3


def test_a_window_that_runs_out_is_none():
    assert simulate([1.0] * 3, WORK, key_delay=100, attach_delay=0) is None


def test_the_chosen_schedule_meets_the_budget_in_the_model():
    table = schedule_table(WORK, FixedDelay(6), n=50)
    chosen = next(row for name, row in table.items() if "chosen" in name)
    assert chosen["overshoot_median_s"] <= 1.5
    assert chosen["runs_out"] == 0
