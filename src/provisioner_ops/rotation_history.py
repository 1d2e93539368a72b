"""How many history events a key rotation can write, against Step Functions' 25,000 per execution.

A rotation waits in two loops (adoption, then grace), each a check Task, a Choice and a Wait of
KeyRotationCheckSeconds, turning once per check for KeyRotationAdoptionDays and KeyRotationGraceDays. An
execution that reaches 25,000 events fails, so a small check interval over long periods kills every rotation
at the same point. The loops are found in the state machine's definition, not assumed.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

HISTORY_LIMIT: Final = 25_000
SECONDS_PER_DAY: Final = 86_400
# Events a state writes when it runs once without a retry (Step Functions' HistoryEvent types): a Lambda
# Task is TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded and
# TaskStateExited.
_ENTERED_AND_EXITED: Final = ("Choice", "Wait", "Pass", "Succeed")
EVENTS_PER_STATE: Final = {**dict.fromkeys(_ENTERED_AND_EXITED, 2), "Task": 5, "Fail": 1}
# ExecutionStarted and ExecutionSucceeded (or Failed).
EXECUTION_EVENTS: Final = 2
# The Waits of the check loops: their interval is the one KeyRotationCheckSeconds sets.
CHECK_INTERVAL_PATH: Final = "$.rotation.timing.check_seconds"
# The functions stretch the interval so both loops together check at most this often
# (provisioner_core.rotation.RotationTiming, which this package cannot import: a test pins them together).
MAX_CHECKS: Final = 350


def effective_interval(check_seconds: float, adoption_days: float, grace_days: float) -> int:
    """The seconds the rotation really waits between checks: KeyRotationCheckSeconds, or longer."""
    period = (adoption_days + grace_days) * SECONDS_PER_DAY
    return max(1, int(check_seconds), math.ceil(period / (MAX_CHECKS - 3)))


@dataclass(frozen=True)
class HistoryEstimate:
    events: int
    checks: int
    events_per_check: int
    fixed_events: int
    interval_seconds: int = 0

    @property
    def over_limit(self) -> bool:
        return self.events > HISTORY_LIMIT


def _successors(state: Mapping[str, Any]) -> list[str]:
    names = [state.get("Next"), state.get("Default")]
    names += [choice.get("Next") for choice in state.get("Choices", [])]
    names += [catch.get("Next") for catch in state.get("Catch", [])]
    return [name for name in names if name]


def _cycle_through(states: Mapping[str, Any], wait: str) -> list[str]:
    """The shortest loop from `wait` back to itself (its states, `wait` first)."""
    start = states[wait]["Next"]
    came_from: dict[str, str] = {start: wait}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        if name == wait:
            path = [wait]
            step = came_from[wait]
            while step != wait:
                path.append(step)
                step = came_from[step]
            return path
        for successor in _successors(states[name]):
            if successor not in came_from:
                came_from[successor] = name
                queue.append(successor)
    raise ValueError(f"the Wait {wait!r} is in no loop")


def check_loops(definition: Mapping[str, Any]) -> list[list[str]]:
    states = definition["States"]
    waits = [
        n for n, s in states.items() if s["Type"] == "Wait" and s.get("SecondsPath") == CHECK_INTERVAL_PATH
    ]
    return [_cycle_through(states, wait) for wait in waits]


def _cost(state: Mapping[str, Any]) -> int:
    return EVENTS_PER_STATE.get(str(state["Type"]), 2)


def estimate(
    definition: Mapping[str, Any], *, check_seconds: float, adoption_days: float, grace_days: float
) -> HistoryEstimate:
    """Events of a rotation that waits out both periods, without retries (each retry adds three more).

    The checks are counted as the functions count them (provisioner_core.rotation.RotationTiming): at least
    one adoption check, and one more of each than it has waits. Every state outside the loops is counted
    once, which over-counts one run's path through them."""
    states = definition["States"]
    loops = check_loops(definition)
    if not loops:
        raise ValueError(f"no Wait with SecondsPath {CHECK_INTERVAL_PATH} in the rotation's definition")
    in_loops = {name for loop in loops for name in loop}
    per_check = max(sum(_cost(states[name]) for name in loop) for loop in loops)
    fixed = EXECUTION_EVENTS + sum(_cost(state) for name, state in states.items() if name not in in_loops)
    interval = effective_interval(check_seconds, adoption_days, grace_days)
    adoption = max(1, math.ceil(adoption_days * SECONDS_PER_DAY / interval))
    grace = max(0, math.ceil(grace_days * SECONDS_PER_DAY / interval))
    checks = adoption + 1 + grace + 1
    return HistoryEstimate(checks * per_check + fixed, checks, per_check, fixed, interval)


def load_definition(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))
