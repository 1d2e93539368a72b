"""Reading an execution's history: Lambda invocations, state transitions and where the time went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

LAMBDA_SCHEDULED: Final = frozenset({"LambdaFunctionScheduled", "TaskScheduled"})
LAMBDA_ENDED: Final = frozenset(
    {
        "LambdaFunctionSucceeded",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "TaskSucceeded",
        "TaskFailed",
        "TaskTimedOut",
    }
)


@dataclass(frozen=True)
class StateTiming:
    state: str
    entered_ms: float
    duration_ms: float
    lambda_ms: float | None = None


@dataclass(frozen=True)
class HistorySummary:
    lambda_invocations: int
    state_transitions: int
    states_entered: tuple[str, ...]
    timings: tuple[StateTiming, ...] = field(default_factory=tuple)
    # From StartExecution (startDate) to the first state entered, and from the last event to stopDate.
    before_first_state_ms: float | None = None
    after_last_event_ms: float | None = None


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def summarize(
    events: Sequence[Mapping[str, Any]],
    started_at: datetime | None = None,
    stopped_at: datetime | None = None,
) -> HistorySummary:
    """Counts and per-state durations (entered to exited; the Lambda's scheduled to ended inside it),
    with times relative to `started_at` (describe_execution's startDate; else the first event).

    A state transition is a state entered (a retried Lambda shows as a second LambdaFunctionScheduled).
    """
    ordered = sorted(events, key=lambda event: int(event["id"]))
    start = started_at or (ordered[0]["timestamp"] if ordered else None)
    first_entered: datetime | None = None
    lambda_invocations = 0
    entered: list[str] = []
    open_states: dict[str, datetime] = {}
    lambda_started: datetime | None = None
    lambda_total: dict[str, float] = {}
    current: str | None = None
    timings: list[StateTiming] = []
    for event in ordered:
        kind = str(event["type"])
        timestamp: datetime = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = str(event["stateEnteredEventDetails"]["name"])
            first_entered = first_entered or timestamp
            entered.append(name)
            open_states[name] = timestamp
            current = name
        elif kind.endswith("StateExited"):
            name = str(event["stateExitedEventDetails"]["name"])
            began = open_states.pop(name, None)
            if began is not None and start is not None:
                timings.append(
                    StateTiming(
                        state=name,
                        entered_ms=_ms(began, start),
                        duration_ms=_ms(timestamp, began),
                        lambda_ms=lambda_total.pop(name, None),
                    )
                )
        elif kind in LAMBDA_SCHEDULED:
            lambda_invocations += 1
            lambda_started = timestamp
        elif kind in LAMBDA_ENDED and lambda_started is not None and current is not None:
            lambda_total[current] = lambda_total.get(current, 0.0) + _ms(timestamp, lambda_started)
            lambda_started = None
    return HistorySummary(
        lambda_invocations=lambda_invocations,
        state_transitions=len(entered),
        states_entered=tuple(entered),
        timings=tuple(timings),
        before_first_state_ms=None
        if started_at is None or first_entered is None
        else _ms(first_entered, started_at),
        after_last_event_ms=None
        if stopped_at is None or not ordered
        else _ms(stopped_at, ordered[-1]["timestamp"]),
    )
