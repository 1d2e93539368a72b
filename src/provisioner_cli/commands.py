"""What `provisioner connect`, `plan`, `status`, `list` and `disconnect` do: one HTTP API call each, and for
connect and disconnect with --wait, the run followed to its end."""

from __future__ import annotations

import argparse
import re
from typing import Any, Final, TextIO

from provisioner_cli.args import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from provisioner_cli.render import as_json, emit, error_lines, left_behind, plan_lines, record_lines, table
from provisioner_cli.signing import connection_path
from provisioner_cli.stack import CliError, Target
from provisioner_cli.trace import ExecutionTrace
from provisioner_cli.waiting import RECORD_GRACE_SECONDS, WAIT_SECONDS, await_record, follow
from provisioner_ops.smoke_http import Answer

ONBOARDED: Final = frozenset({"ACTIVE", "FAILED", "ROLLBACK_FAILED"})
OFFBOARDED: Final = frozenset({"DELETED", "ROLLBACK_FAILED"})
_NAME_CHARACTERS: Final = re.compile(r"[^A-Za-z0-9 _.-]+")
NAME_MAX: Final = 64
PAGE_LIMIT: Final = "100"


def waits(args: argparse.Namespace, out: TextIO) -> bool:
    """--wait / --no-wait, or on when stdout is a terminal."""
    if args.wait is not None:
        return bool(args.wait)
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def refused(answer: Answer, what: str, out: TextIO) -> int | None:
    """None for a 2xx; otherwise print the API's answer field by field and return the exit code (a 403
    from the gateway is a CliError: no answer from the API itself)."""
    if 200 <= answer.status < 300:
        return None
    if answer.status in (401, 403):
        message = answer.body.get("message") if isinstance(answer.body, dict) else answer.body
        raise CliError(
            f"{what}: {answer.status} from the API gateway ({message or 'Forbidden'}): the request's SigV4 "
            "signature was refused, or the caller lacks execute-api:Invoke on this API"
        )
    if answer.status == 400:
        emit(out, f"{what}: the request is invalid (400):")
    else:
        emit(out, f"{what}: the API answered {answer.status}:")
    for line in error_lines(answer.body):
        emit(out, line)
    return EXIT_INVALID if answer.status == 400 else EXIT_FAILED


def split_target(target: str) -> tuple[str, str | None]:
    """ "s3://bucket/images/" -> ("bucket", "images/"); the API judges both."""
    bare = target.removeprefix("s3://")
    bucket, slash, prefix = bare.partition("/")
    return bucket, (prefix if slash and prefix else None)


def default_name(bucket: str, prefix: str | None) -> str:
    name = _NAME_CHARACTERS.sub(" ", f"{bucket} {prefix or ''}")
    return " ".join(name.split())[:NAME_MAX].strip() or "Connection"


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    bucket, prefix = split_target(args.target)
    body: dict[str, Any] = {
        "connection_name": args.name or default_name(bucket, prefix),
        "bucket": bucket,
        "access": args.access,
        "apply_cors": not args.no_cors,
    }
    if prefix is not None:
        body["prefix"] = prefix
    if args.connection_id:
        body["connection_id"] = args.connection_id
    if args.no_labellerr:
        body["register_in_labellerr"] = False
    return body


def connect(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    answer = target.api.call("POST", "/connections", request_body(args), headers)
    failed = refused(answer, "POST /connections", out)
    if failed is not None:
        return failed
    accepted = answer.body if isinstance(answer.body, dict) else {}
    connection_id = str(accepted.get("connection_id"))
    execution_arn = str(accepted.get("execution_arn") or "")
    replayed = (
        " (replayed: the same key and body were sent before)"
        if answer.headers.get("idempotent-replayed")
        else ""
    )
    emit(out, f"Connection {connection_id}: {accepted.get('status')}{replayed}")
    emit(out, f"  execution {execution_arn}")
    for warning in accepted.get("warnings") or []:
        emit(out, f"  warning: {warning}")
    return _follow_to_record(args, target, out, connection_id, execution_arn, ONBOARDED, "ACTIVE")


def _follow_to_record(
    args: argparse.Namespace,
    target: Target,
    out: TextIO,
    connection_id: str,
    execution_arn: str,
    final: frozenset[str],
    success: str,
) -> int:
    """With --wait, each state as it ends, then the record once it reaches one of `final`; without, how to
    follow the run."""
    if not waits(args, out):
        emit(out, f"Follow it with: provisioner status {connection_id}")
        return EXIT_OK
    emit(out)
    description = follow(target, execution_arn, ExecutionTrace(out), out)
    emit(out)
    status, record = await_record(
        target, connection_id, final, timeout=RECORD_GRACE_SECONDS if description else WAIT_SECONDS
    )
    return _outcome(out, status, record, connection_id, execution_arn, success=success)


def _outcome(
    out: TextIO, status: int, record: Any, connection_id: str, execution_arn: str, *, success: str
) -> int:
    if status != 200 or not isinstance(record, dict):
        emit(out, f"The run ended; GET /connections/{connection_id} answered {status}:")
        for line in error_lines(record):
            emit(out, line)
        return EXIT_FAILED
    ours = (
        record.get("execution_arn") == execution_arn
        or record.get("offboarding_execution_arn") == execution_arn
    )
    if not ours and success == "ACTIVE":
        emit(out, f"The record of {connection_id} belongs to another run ({record.get('execution_arn')}):")
    for line in record_lines(record):
        emit(out, line)
    if record.get("status") == success and ours:
        return EXIT_OK
    left = left_behind(record)
    if record.get("status") == "ROLLBACK_FAILED":
        emit(out)
        emit(out, "Not everything could be removed; still there:" if left else "Rollback failed.")
        for each in left:
            emit(out, f"  {each}")
        emit(out, f"Fix the cause, then remove it: provisioner disconnect {connection_id}")
    elif record.get("status") == "FAILED":
        emit(out)
        emit(out, "The run failed and was rolled back: nothing of it is left.")
    return EXIT_FAILED


def plan(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    answer = target.api.call("POST", "/connections/plan", request_body(args))
    failed = refused(answer, "POST /connections/plan", out)
    if failed is not None:
        return failed
    body = answer.body
    if not isinstance(body, dict) or "would_succeed" not in body:
        raise CliError(f"POST /connections/plan answered {answer.status} without a plan: {body}")
    if args.json:
        emit(out, as_json(body))
    else:
        for line in plan_lines(body):
            emit(out, line)
    return EXIT_OK if body["would_succeed"] else EXIT_FAILED


def status(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    answer = target.api.call("GET", connection_path(args.connection_id))
    failed = refused(answer, f"GET /connections/{args.connection_id}", out)
    if failed is not None:
        return failed
    if args.json:
        emit(out, as_json(answer.body))
    else:
        for line in record_lines(answer.body):
            emit(out, line)
    return EXIT_OK


def list_connections(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    query = {"limit": PAGE_LIMIT}
    if args.bucket:
        query["bucket"] = args.bucket
    if args.status:
        query["status"] = args.status
    if args.health:
        query["health"] = args.health
    records: list[dict[str, Any]] = []
    while True:
        answer = target.api.call("GET", "/connections", query=query)
        failed = refused(answer, "GET /connections", out)
        if failed is not None:
            return failed
        page = answer.body if isinstance(answer.body, dict) else {}
        records += page.get("connections") or []
        if not page.get("next_token"):
            break
        query["next_token"] = str(page["next_token"])
    if args.json:
        emit(out, as_json({"connections": records}))
    elif records:
        for line in table(records):
            emit(out, line)
    else:
        emit(out, "No connections.")
    return EXIT_OK


def disconnect(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    connection_id = args.connection_id
    answer = target.api.call("DELETE", connection_path(connection_id))
    failed = refused(answer, f"DELETE /connections/{connection_id}", out)
    if failed is not None:
        return failed
    accepted = answer.body if isinstance(answer.body, dict) else {}
    execution_arn = str(accepted.get("execution_arn") or "")
    emit(out, f"Connection {connection_id}: {accepted.get('status')}")
    if accepted.get("status") == "DELETED":
        return EXIT_OK
    emit(out, f"  execution {execution_arn}")
    return _follow_to_record(args, target, out, connection_id, execution_arn, OFFBOARDED, "DELETED")
