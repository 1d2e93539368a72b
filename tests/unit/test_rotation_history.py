"""A rotation's execution history stays under Step Functions' 25,000 events for every allowed parameter.

The worst case is counted from the ASL itself: every state once (every branch, though a run takes one),
the undo retry loops to their limit, the adoption and grace loops for as many checks as RotationTiming gives,
and every Task attempt retried to its Retry limits. Events per state as Step Functions writes them, and as
the local stack's history shows them (tests/rotation): a Lambda task TaskStateEntered, LambdaFunctionScheduled,
LambdaFunctionStarted, LambdaFunctionSucceeded, TaskStateExited (5), each retried attempt 3 more (Scheduled,
Started, Failed); a Choice, Wait, Pass, Succeed or Fail state entered and exited (2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from provisioner_core.cleanup import MAX_ATTEMPTS as UNDO_ATTEMPTS
from provisioner_core.rotation import MAX_CHECKS, SECONDS_PER_DAY, RotationTiming
from provisioner_local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "rotate_connection_key.asl.json").read_text())
PARAMETERS = load_yaml(ROOT / "template.yaml")["Parameters"]
HISTORY_LIMIT = 25_000
BUDGET = 20_000
EXECUTION_EVENTS = 2  # ExecutionStarted, and one of ExecutionSucceeded / ExecutionFailed
CHECK_SECONDS_PATH = "$.rotation.timing.check_seconds"


def most_events(name: str) -> int:
    """The most events one visit of a state can add."""
    state = ASL["States"][name]
    if state["Type"] != "Task":
        return 2
    retries = sum(retry["MaxAttempts"] for retry in state.get("Retry", []))
    return 5 + 3 * retries


def check_loops() -> dict[str, tuple[str, str, str]]:
    """Timing key (`adoption_checks`) -> (check task, choice, wait) of each loop that waits check_seconds."""
    loops = {}
    for wait_name, wait in ASL["States"].items():
        if wait.get("SecondsPath") != CHECK_SECONDS_PATH:
            continue
        task_name = wait["Next"]
        task = ASL["States"][task_name]
        choice_name = task["Next"]
        assert ASL["States"][choice_name]["Default"] == wait_name, (
            "the loop is task -> choice -> wait -> task"
        )
        stage = task["Parameters"]["checks_done.$"].split(".")[1]  # "$.adoption.checks_done"
        loops[f"{stage}_checks"] = (task_name, choice_name, wait_name)
    return loops


def undo_loops() -> set[str]:
    """The states of the Undo retry loops (task, choice, wait), each visited up to UNDO_ATTEMPTS times."""
    states = set()
    for wait_name, wait in ASL["States"].items():
        if wait.get("SecondsPath") == "$.undo.retry_in_seconds":
            task_name = wait["Next"]
            choice_name = ASL["States"][task_name]["Next"]
            states |= {wait_name, task_name, choice_name}
    return states


def worst_case_events(timing: Mapping[str, Any]) -> int:
    loops = check_loops()
    in_check_loops = {state for states in loops.values() for state in states}
    repeated = undo_loops()
    total = EXECUTION_EVENTS
    for name in ASL["States"]:
        if name not in in_check_loops:
            total += most_events(name) * (UNDO_ATTEMPTS if name in repeated else 1)
    for key, (task, choice, wait) in loops.items():
        # A loop ends at the check after its last wait (checks_done >= its count): one check more than waits.
        checks = timing[key]
        total += (checks + 1) * (most_events(task) + most_events(choice)) + checks * most_events(wait)
    return total


def test_the_loops_and_their_events_are_read_from_the_asl():
    assert set(check_loops()) == {"adoption_checks", "grace_checks"}
    assert check_loops()["adoption_checks"] == ("Check key adoption", "Adopted?", "Wait for adoption")
    # One turn as the local stack's history counts it (9), and with every retry of the check (51: Lambda's
    # errors, AWS failures and throttling, each retrier to its limit).
    task, choice, wait = check_loops()["grace_checks"]
    assert most_events(choice) + most_events(wait) + 5 == 9
    assert most_events(task) + most_events(choice) + most_events(wait) == 51
    assert len(undo_loops()) == 6


def test_the_unstretched_interval_of_the_smallest_allowed_check_seconds_would_overflow_the_history():
    """What the stretch prevents: 1 s checks over the default 7 + 3 days."""
    naive = {"adoption_checks": 7 * SECONDS_PER_DAY, "grace_checks": 3 * SECONDS_PER_DAY}
    assert worst_case_events(naive) > HISTORY_LIMIT


def test_the_parameter_bounds_are_what_the_worst_cases_below_assume():
    assert PARAMETERS["KeyRotationCheckSeconds"]["MinValue"] == 1
    for name in ("KeyRotationAdoptionDays", "KeyRotationGraceDays"):
        assert PARAMETERS[name]["MinValue"] == 0
        assert PARAMETERS[name]["MaxValue"] == 180
    # Both periods at most, under a Standard execution's one-year limit.
    assert (
        PARAMETERS["KeyRotationAdoptionDays"]["MaxValue"] + PARAMETERS["KeyRotationGraceDays"]["MaxValue"]
        < 365
    )
    assert f"at most {MAX_CHECKS} times" in PARAMETERS["KeyRotationCheckSeconds"]["Description"]
    default = RotationTiming(adoption_days=7, grace_days=3, check_seconds=1)
    assert (
        f"{default.interval_seconds():,} s for the default 7 + 3 days"
        in (PARAMETERS["KeyRotationCheckSeconds"]["Description"])
    )


days = st.one_of(
    st.sampled_from((0.0, 1e-9, 0.5, 1.0, 3.0, 7.0, 180.0)),
    st.floats(min_value=0, max_value=180, allow_nan=False),
)
check_seconds = st.one_of(st.sampled_from((1, 2, 60, 3600, 86400)), st.integers(min_value=1, max_value=10**8))


@settings(max_examples=500, deadline=None)
@given(days, days, check_seconds)
@example(7.0, 3.0, 1)
@example(180.0, 180.0, 1)
@example(0.0, 0.0, 1)
@example(180.0, 0.0, 1)
def test_no_allowed_parameters_can_fill_the_history(adoption: float, grace: float, seconds: int) -> None:
    timing = RotationTiming(adoption_days=adoption, grace_days=grace, check_seconds=seconds)
    state = timing.as_state()
    assert state["adoption_checks"] + state["grace_checks"] <= MAX_CHECKS
    assert worst_case_events(state) <= BUDGET < HISTORY_LIMIT
    # The checks still span the periods: stretching changes how often, not for how long (to a microsecond:
    # a period of 1e-300 days may round to no check at all).
    assert state["check_seconds"] >= seconds
    assert state["adoption_checks"] * state["check_seconds"] >= adoption * SECONDS_PER_DAY - 1e-6
    assert state["grace_checks"] * state["check_seconds"] >= grace * SECONDS_PER_DAY - 1e-6
    if seconds * MAX_CHECKS >= 2 * (adoption + grace) * SECONDS_PER_DAY:
        assert state["check_seconds"] == seconds  # no stretch where none is needed


def test_the_default_parameters_are_not_stretched():
    timing = RotationTiming(adoption_days=7, grace_days=3, check_seconds=3600)
    assert timing.as_state()["check_seconds"] == 3600
    assert (timing.as_state()["adoption_checks"], timing.as_state()["grace_checks"]) == (168, 72)


def test_a_short_interval_is_stretched_to_the_fewest_seconds_that_fit():
    timing = RotationTiming(adoption_days=7, grace_days=3, check_seconds=1)
    assert timing.interval_seconds() == math.ceil(10 * SECONDS_PER_DAY / (MAX_CHECKS - 3)) == 2490
