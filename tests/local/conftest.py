"""Shared pieces of the local stack's own tests.

In-process stacks here live for one module at most; another suite's stack may be running beside them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.executions import wait_for_execution


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
        return wait_for_execution(sfn, arn, timeout, poll_s=0.02)

    return run
