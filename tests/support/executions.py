"""Starting Step Functions executions and waiting for them to end: the one polling loop of the suites."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from provisioner_local.emulator import LocalStack

FINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
POLL_SECONDS = 0.02


@dataclass
class Run:
    """An ended execution: its status, output, error and cause, and its history's events."""

    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)

    @property
    def cause_json(self) -> dict[str, Any]:
        cause: dict[str, Any] = json.loads(self.cause or "{}")
        return cause


def unique_id(stem: str = "conn") -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def _running_here(execution_arn: str) -> bool:
    """Whether moto in this process runs the execution and it has not ended. Asking it here costs
    microseconds; a DescribeExecution request costs the stack 3-5 ms of CPU, the run's own CPU, and a poll
    every 20 ms made it a sixth of a fault matrix case. False also when the execution is not this process's
    (a stack served by another process): then only the request can tell."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.responses import get_backend

    try:
        _, _, _, region, account, _ = execution_arn.split(":", 5)
        return get_backend(account, region).describe_execution(execution_arn).status not in FINAL
    except (ValueError, LookupError, AttributeError, AWSError):
        # Not an ARN, no such account, region or execution here, or one not started yet.
        return False


def wait_for_execution(
    sfn: Any, execution_arn: str, deadline_s: float = 60, poll_s: float = POLL_SECONDS
) -> dict[str, Any]:
    """The execution's description once it has ended; raises AssertionError if it is still running after
    `deadline_s` seconds."""
    deadline = time.monotonic() + deadline_s
    while True:
        if _running_here(execution_arn):
            described: dict[str, Any] = {"status": "RUNNING"}
        else:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in FINAL:
                return described
        if time.monotonic() > deadline:
            raise AssertionError(
                f"execution {execution_arn} still {described['status']} after {deadline_s} s"
            )
        # Waiting for its end lets its time pass: a Wait state a stack parks (stepped_waits) ends now.
        if not LocalStack.waits.step(execution_arn):
            time.sleep(poll_s)


def wait_until_ended(sfn: Any, execution_arn: str | None, deadline_s: float = 120) -> str | None:
    """The final status of a run that may not exist (None for no ARN or an execution that never started)."""
    if not execution_arn:
        return None
    try:
        return str(wait_for_execution(sfn, execution_arn, deadline_s)["status"])
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def history_of(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)[
        "events"
    ]
    return events


def wait_for_run(sfn: Any, execution_arn: str, deadline_s: float = 60) -> Run:
    """The execution once it has ended, with its history."""
    described = wait_for_execution(sfn, execution_arn, deadline_s)
    output = json.loads(described["output"]) if described.get("output") else None
    return Run(
        described["status"],
        output,
        described.get("error"),
        described.get("cause"),
        history_of(sfn, execution_arn),
    )


def start(sfn: Any, state_machine_arn: str, request: Any, *, name: str | None = None) -> str:
    """Start an execution of `state_machine_arn` with `request` as input; its ARN."""
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name or unique_id("run"), input=json.dumps(request)
    )
    return str(started["executionArn"])


def run_flow(
    stack: LocalStack, sfn: Any, request: Any, *, deadline_s: float = 60, settle: bool = True
) -> Run:
    """An onboarding run of `request`, to its end. `settle`: the run starts once what the test set up has
    settled (False: right after the last run)."""
    if settle:
        stack.settle()
    return wait_for_run(sfn, start(sfn, stack.state_machine_arn, request), deadline_s)


def offboard(stack: LocalStack, sfn: Any, connection_id: str, deadline_s: float = 60) -> Run:
    """An offboarding run of `connection_id` started directly on its state machine, to its end."""
    arn = start(
        sfn,
        stack.state_machines["OffboardConnectionStateMachine"],
        {"connection_id": connection_id},
        name=unique_id("off"),
    )
    return wait_for_run(sfn, arn, deadline_s)
