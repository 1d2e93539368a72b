"""What the benchmark does to the stack: buckets, onboardings started and awaited, the plain-script floor.

This module starts onboardings and awaits them; the rest by concern: clients (the benchmark's own clients
and keys), customer_bucket (the bucket onboarded and the request naming it) and floor (the flow's calls
from a plain script, and how they differ from the flow's).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bench.customer_bucket import onboarding_request
from bench.history import HistorySummary, summarize

FINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True)
class Execution:
    connection_id: str
    bucket: str
    execution_arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    # describe_execution's stopDate - startDate (millisecond precision).
    server_ms: float
    # StartExecution sent to the poll that saw the final status.
    client_ms: float
    history: HistorySummary


def start_execution(sfn: Any, state_machine_arn: str, connection_id: str, bucket: str) -> str:
    response = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=connection_id,
        input=json.dumps(onboarding_request(connection_id, bucket)),
    )
    return str(response["executionArn"])


StatusReader = Callable[[str], str]


def wait_for_final(
    sfn: Any,
    execution_arns: Sequence[str],
    *,
    deadline_s: float,
    poll_s: float,
    status_of: StatusReader | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """describe_execution of each, once final, and when (perf_counter) the poll saw it; bounded.

    With `status_of` (an execution's status read in-process, no request), DescribeExecution is sent once per
    execution, when it has ended: requests to the emulator would take the CPU from the execution measured.
    """
    deadline = time.monotonic() + deadline_s
    final: dict[str, dict[str, Any]] = {}
    seen_at: dict[str, float] = {}
    while True:
        for arn in execution_arns:
            if arn in final:
                continue
            seen = time.perf_counter()
            if status_of is not None and status_of(arn) not in FINAL_STATUSES:
                continue
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] in FINAL_STATUSES:
                final[arn] = described
                seen_at[arn] = seen
        if len(final) == len(execution_arns):
            return final, seen_at
        if time.monotonic() > deadline:
            running = [arn.rsplit(":", 1)[-1] for arn in execution_arns if arn not in final]
            raise TimeoutError(f"still running after {deadline_s:g} s: {', '.join(running)}")
        time.sleep(poll_s)


def history_of(sfn: Any, execution_arn: str, *, max_pages: int = 50) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    for _ in range(max_pages):
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
    raise RuntimeError(f"{execution_arn}: more than {max_pages} pages of history")


def execution_result(
    sfn: Any, described: Mapping[str, Any], connection_id: str, bucket: str, client_ms: float
) -> Execution:
    arn = str(described["executionArn"])
    stop = described.get("stopDate")
    server_ms = (stop - described["startDate"]).total_seconds() * 1000 if stop else float("nan")
    return Execution(
        connection_id=connection_id,
        bucket=bucket,
        execution_arn=arn,
        status=str(described["status"]),
        output=json.loads(described["output"]) if described.get("output") else None,
        error=described.get("error"),
        cause=described.get("cause"),
        server_ms=server_ms,
        client_ms=client_ms,
        history=summarize(history_of(sfn, arn), described["startDate"], stop),
    )


def onboard(
    sfn: Any,
    state_machine_arn: str,
    connection_id: str,
    bucket: str,
    *,
    deadline_s: float = 60,
    poll_s: float = 0.02,
    status_of: StatusReader | None = None,
) -> Execution:
    """One onboarding, StartExecution to final status."""
    started = time.perf_counter()
    arn = start_execution(sfn, state_machine_arn, connection_id, bucket)
    final, seen_at = wait_for_final(sfn, [arn], deadline_s=deadline_s, poll_s=poll_s, status_of=status_of)
    return execution_result(sfn, final[arn], connection_id, bucket, (seen_at[arn] - started) * 1000)
