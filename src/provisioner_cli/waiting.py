"""Following a run to its end: its states from the execution's history, then the record it left.

The API answers with the run's execution ARN but not its progress, so the states come from Step Functions'
GetExecutionHistory with the caller's own credentials. A caller who may not read the history
(`states:GetExecutionHistory`, `states:DescribeExecution`) still gets the outcome: the record is polled
until its status is final.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from provisioner_cli.render import emit
from provisioner_cli.signing import connection_path, is_loopback
from provisioner_cli.stack import CliError, Target, execution_region
from provisioner_cli.trace import ExecutionTrace, follow_execution

# How often to look: Step Functions' history reads are throttled (a bucket of 250, refilled 5 a second).
POLL_SECONDS_AWS: Final = 1.0
POLL_SECONDS_LOCAL: Final = 0.05
# A run longer than this is followed no further (Ctrl-C stops waiting sooner; the run goes on either way).
WAIT_SECONDS: Final = 3600.0
# After the execution ended, how long the API may take to show the outcome in the record.
RECORD_GRACE_SECONDS: Final = 10.0
_DENIED: Final = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException"})


def poll_seconds(target: Target) -> float:
    return POLL_SECONDS_LOCAL if is_loopback(target.api.base_url) else POLL_SECONDS_AWS


def follow(target: Target, execution_arn: str, trace: ExecutionTrace, out: TextIO) -> dict[str, Any] | None:
    """Show each state as it finishes; the execution's final description, or None when its history
    cannot be read (the caller then waits on the record)."""
    sfn = target.client("stepfunctions", execution_region(execution_arn, target.region))
    try:
        return follow_execution(sfn, execution_arn, trace, WAIT_SECONDS, poll_seconds=poll_seconds(target))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in _DENIED:
            raise CliError(f"reading the run's history ({execution_arn}): {code}: {error}") from None
        emit(out, f"  (cannot read the run's history: {code}; waiting for its outcome in the record)")
        return None
    except EndpointConnectionError as error:
        raise CliError(
            f"reading the run's history: no answer from {error.kwargs.get('endpoint_url')}"
        ) from None
    except BotoCoreError as error:
        raise CliError(f"reading the run's history ({execution_arn}): {error}") from None


def await_record(
    target: Target, connection_id: str, final: Collection[str], *, timeout: float
) -> tuple[int, Any]:
    """GET the connection until its status is one of `final`; the last (HTTP status, body) at the deadline."""
    return await_until(target, connection_id, lambda record: record.get("status") in final, timeout=timeout)


def await_until(
    target: Target, connection_id: str, done: Callable[[dict[str, Any]], bool], *, timeout: float
) -> tuple[int, Any]:
    """GET the connection until `done(record)`; the last (HTTP status, body) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        answer = target.api.call("GET", connection_path(connection_id))
        body = answer.body
        if answer.status == 200 and isinstance(body, dict) and done(body):
            return answer.status, body
        if answer.status in (401, 403) or time.monotonic() >= deadline:
            return answer.status, body
        time.sleep(poll_seconds(target) * 2)
