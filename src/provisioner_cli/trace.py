"""A run's trace: one line per finished state of the execution, read from its history as it runs.

Shared by `provisioner` (the deployed stack's client) and `provisioner-local onboard` / `rotate`; it needs
only a Step Functions client, never the local stack.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TextIO

from provisioner_cli.render import emit

FINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
POLL_SECONDS: Final = 0.05
# Columns of a trace line (81 characters in all): longer names and outcomes wrap inside their column.
NAME_WIDTH: Final = 28
OUTCOME_WIDTH: Final = 40
_FAILURE_EVENTS: Final = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)


# The product's rule (provisioner_core.step.CARRIES_AWS_CODE), copied because the client installs without
# the layer; tests/unit/test_provisioner_cli_trace.py keeps the two equal.
CARRIES_AWS_CODE: Final = frozenset({"AwsCallFailed", "AwsThrottled", "AwsCallRefused", "VerificationFailed"})
_AWS_CODE: Final = re.compile(r" failed with ([A-Za-z0-9_.]+): ")


def error_name(details: dict[str, Any], kind: str) -> str:
    """What a failed attempt raised, named as the flow names it: for the errors that keep an AWS code in
    their message ("CreateAccessKey failed with InjectedFault: ..."), that code, as Rollback reads it."""
    error = str(details.get("error") or kind)
    if error not in CARRIES_AWS_CODE:
        return error
    try:
        envelope = json.loads(str(details.get("cause") or ""))
    except json.JSONDecodeError:
        envelope = None
    message = str(envelope.get("errorMessage") or "") if isinstance(envelope, dict) else ""
    match = _AWS_CODE.search(message)
    return match.group(1) if match else error


def step_stem(state_name: str) -> str:
    """ "Issue access key" -> "IssueAccessKey", the prefix of the error an onboarding fails with."""
    words = re.split(r"[^A-Za-z0-9]+", state_name)
    return "".join(word[:1].upper() + word[1:].lower() for word in words if word)


def _failure_details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


@dataclass
class _OpenState:
    name: str
    entered: datetime
    errors: list[str] = field(default_factory=list)
    # The last task attempt failed and nothing ran since: leaving now means a Catch took it.
    last_attempt_failed: bool = False


class ExecutionTrace:
    """Turns execution history events into one line per finished state; never prints inputs or outputs."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seen = 0
        self.open: list[_OpenState] = []
        self.lines: list[str] = []

    def feed(self, events: Sequence[dict[str, Any]]) -> None:
        for event in sorted(events, key=lambda item: int(item["id"])):
            if int(event["id"]) <= self.seen:
                continue
            self.seen = int(event["id"])
            self._on_event(event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = str(event["type"])
        timestamp = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = str(event.get("stateEnteredEventDetails", {}).get("name", "?"))
            self.open.append(_OpenState(name=name, entered=timestamp))
            if kind == "FailStateEntered":
                self._finish(self.open.pop(), timestamp, "failed (Fail state)")
        elif kind.endswith("StateExited"):
            name = str(event.get("stateExitedEventDetails", {}).get("name", "?"))
            state = self._pop(name)
            if state is not None:
                self._finish(state, timestamp, self._outcome(state))
        elif kind in _FAILURE_EVENTS and self.open:
            self.open[-1].errors.append(error_name(_failure_details(event), kind))
            self.open[-1].last_attempt_failed = True
        elif kind.endswith(("Scheduled", "Started")) and self.open:
            self.open[-1].last_attempt_failed = False
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            error = str(_failure_details(event).get("error") or kind.removeprefix("Execution").upper())
            while self.open:
                state = self.open.pop()
                self._finish(state, timestamp, f"failed: {state.errors[-1] if state.errors else error}")

    def _pop(self, name: str) -> _OpenState | None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index].name == name:
                return self.open.pop(index)
        return None

    @staticmethod
    def _outcome(state: _OpenState) -> str:
        if not state.errors:
            return "succeeded"
        retries = len(state.errors) - (1 if state.last_attempt_failed else 0)
        retried = f"retried {retries}x ({', '.join(sorted(set(state.errors)))})" if retries else ""
        if state.last_attempt_failed:
            # Named as the flow's Rollback names the run's error: <Step>.<what the step raised>.
            caught = f"failed: {step_stem(state.name)}.{state.errors[-1]} (caught)"
            return f"{caught}, {retried}" if retried else caught
        return f"succeeded, {retried}"

    def _finish(self, state: _OpenState, left: datetime, outcome: str) -> None:
        milliseconds = max(0, round((left - state.entered).total_seconds() * 1000))
        # A long name or outcome wraps inside its column, so the milliseconds stay in theirs.
        names = textwrap.wrap(state.name, NAME_WIDTH, break_on_hyphens=False) or [""]
        outcomes = textwrap.wrap(outcome, OUTCOME_WIDTH, break_on_hyphens=False) or [""]
        for index, (name, text) in enumerate(itertools.zip_longest(names, outcomes, fillvalue="")):
            if index == 0:
                line = f"  {name:<{NAME_WIDTH}} {text:<{OUTCOME_WIDTH}} {milliseconds:>6} ms"
            else:
                line = f"  {name:<{NAME_WIDTH}} {text}".rstrip()
            self.lines.append(line)
            emit(self.out, line)


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


# The states a rotation repeats while it waits: one line each, with how often they ran.
LOOP_STATES: Final = frozenset(
    {
        "Check key adoption",
        "Adopted?",
        "Wait for adoption",
        "Check rotation grace",
        "Grace over?",
        "Wait during grace",
    }
)


class RotationTrace(ExecutionTrace):
    """The execution trace, with each waiting loop on one line: its states and how often they ran."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.loop_counts: dict[str, int] = {}

    def _finish(self, state: _OpenState, left: datetime, outcome: str) -> None:
        if state.name in LOOP_STATES and outcome == "succeeded":
            self.loop_counts[state.name] = self.loop_counts.get(state.name, 0) + 1
            return
        self.flush_loop()
        super()._finish(state, left, outcome)

    def flush_loop(self) -> None:
        if self.loop_counts:
            line = "  " + ", ".join(f"{name} x{count}" for name, count in self.loop_counts.items())
            self.lines.append(line)
            emit(self.out, line)
            self.loop_counts = {}


def follow_execution(
    sfn: Any,
    execution_arn: str,
    trace: ExecutionTrace,
    timeout: float,
    cancelled: Callable[[], bool] | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> dict[str, Any] | None:
    """Feed the trace until the execution is final; None when the deadline passes or it is cancelled."""
    deadline = time.monotonic() + timeout
    while True:
        # Status first: when it is final, the history read after it is complete.
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        trace.feed(execution_history(sfn, execution_arn))
        if description["status"] in FINAL_STATUSES:
            if isinstance(trace, RotationTrace):
                trace.flush_loop()
            return description
        if time.monotonic() >= deadline or (cancelled is not None and cancelled()):
            return None
        time.sleep(poll_seconds)


def pretty(text: str | None) -> str:
    if not text:
        return "(none)"
    try:
        return json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        return text
