"""Shared pieces of the local stack's own tests.

In-process stacks here live for one module at most; another suite's stack may be running beside them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] in FINAL:
            return description
        if time.monotonic() > deadline:
            pytest.fail(f"execution {execution_arn} still {description['status']} after {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def run_execution() -> Callable[..., dict[str, Any]]:
    """Start one execution (always named) and wait for its final description."""
    counter = iter(range(1_000_000))

    def run(
        sfn: Any, state_machine_arn: str, payload: dict[str, Any], timeout: float = 15.0
    ) -> dict[str, Any]:
        name = f"test-{time.time_ns()}-{next(counter)}"
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
        return wait_for_execution(sfn, arn, timeout)

    return run
