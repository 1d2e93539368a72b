"""`provisioner check` and `provisioner repair`: start a health run of one connection (POST
/connections/{id}/health-checks or /repairs) and, with --wait, follow it, then print the verdict it left in
the record. Exit 0 HEALTHY; 1 DEGRADED, BROKEN, or no verdict (the run failed, the API refused)."""

from __future__ import annotations

import argparse
from typing import Any, Final, TextIO

from provisioner_cli.args import EXIT_FAILED, EXIT_OK
from provisioner_cli.commands import refused, waits
from provisioner_cli.render import emit, error_lines, health_lines
from provisioner_cli.signing import connection_path
from provisioner_cli.stack import Target
from provisioner_cli.trace import ExecutionTrace
from provisioner_cli.waiting import RECORD_GRACE_SECONDS, WAIT_SECONDS, await_until, follow

HEALTHY: Final = "HEALTHY"


def check(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    return _health_run(args, target, out, repair=False)


def repair(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    return _health_run(args, target, out, repair=True)


def _health_run(args: argparse.Namespace, target: Target, out: TextIO, *, repair: bool) -> int:
    connection_id = args.connection_id
    route = "repairs" if repair else "health-checks"
    what = "Repair" if repair else "Health check"
    answer = target.api.call("POST", connection_path(connection_id, route))
    failed = refused(answer, f"POST /connections/{connection_id}/{route}", out)
    if failed is not None:
        return failed
    started = answer.body if isinstance(answer.body, dict) else {}
    execution_arn = str(started.get("execution_arn") or "")
    emit(out, f"{what} of {connection_id}: started")
    emit(out, f"  execution {execution_arn}")
    if not waits(args, out):
        emit(out, f"Its verdict will be in the record: provisioner status {connection_id}")
        return EXIT_OK
    emit(out)
    description = follow(target, execution_arn, ExecutionTrace(out), out)
    emit(out)
    if description is not None and description.get("status") != "SUCCEEDED":
        emit(out, f"The {what.lower()} run ended {description.get('status')}: no verdict was recorded.")
        return EXIT_FAILED
    # The run's last step writes the verdict, naming the run: an earlier check's verdict is not this one.
    status, record = await_until(
        target,
        connection_id,
        lambda body: _health_of(body, execution_arn) is not None,
        timeout=RECORD_GRACE_SECONDS if description else WAIT_SECONDS,
    )
    if status != 200 or not isinstance(record, dict):
        emit(out, f"GET /connections/{connection_id} answered {status}:")
        for line in error_lines(record):
            emit(out, line)
        return EXIT_FAILED
    health = _health_of(record, execution_arn)
    if health is None:
        emit(out, f"The run ended, but the record of {connection_id} holds no verdict of it.")
        return EXIT_FAILED
    emit(out, f"Connection {connection_id}: {record.get('status')}")
    for line in health_lines(health):
        emit(out, line)
    return EXIT_OK if health.get("status") == HEALTHY else EXIT_FAILED


def _health_of(record: dict[str, Any], execution_arn: str) -> dict[str, Any] | None:
    health = record.get("health")
    if isinstance(health, dict) and health.get("execution_arn") == execution_arn:
        return health
    return None
