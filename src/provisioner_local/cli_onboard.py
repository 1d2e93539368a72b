"""provisioner-local onboard: one onboarding through the local HTTP API, traced, then its registry record."""

from __future__ import annotations

import argparse
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, TextIO
from urllib.parse import quote

from provisioner_cli.trace import POLL_SECONDS, ExecutionTrace, follow_execution, pretty
from provisioner_local.cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    StopSignal,
    claim_stdout,
    emit,
    make_stack,
)
from provisioner_local.cli_demo import choose_bucket, prepare_bucket
from provisioner_local.emulator import LocalStack, LocalStackError

# A connection's registry status once its onboarding has ended.
FINAL_CONNECTION_STATUSES: Final = frozenset({"ACTIVE", "FAILED", "ROLLBACK_FAILED"})
# After the execution has ended, how long the API may take to show its outcome in the registry.
RECORD_GRACE_SECONDS: Final = 3.0
HTTP_TIMEOUT_SECONDS: Final = 30.0
# The request's fields onboard sets, and the option that sets each.
_OPTIONS: Final = {
    "bucket": "--bucket",
    "prefix": "--prefix",
    "connection_name": "--connection-name",
    "access": "--access",
    "apply_cors": "--no-cors",
}

logger = logging.getLogger("provisioner_local")


def http_json(
    method: str, url: str, payload: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(status, parsed JSON body, or the text when it is not JSON) of one request; HTTP errors included."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the local stack's own http://127.0.0.1 URL
        url,
        data=data,
        method=method,
        headers={
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        },
    )
    try:
        # The URL is the local stack's own http://127.0.0.1 API.
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, TimeoutError) as error:
        raise LocalStackError(f"{method} {url}: {getattr(error, 'reason', error)}") from error
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text


def _record_of(body: Any) -> dict[str, Any] | None:
    """The registry record in a GET /connections/{id} answer (bare, or under "connection")."""
    if isinstance(body, dict) and isinstance(body.get("connection"), dict):
        return dict(body["connection"])
    if isinstance(body, dict) and "status" in body:
        return body
    return None


def await_record(
    api_url: str, connection_id: str, *, timeout: float, cancelled: Callable[[], bool]
) -> tuple[int, Any]:
    """GET the connection until its registry status is final; the last (status, body) when time runs out.

    Called once the execution has ended, when the flow has written its outcome: `timeout` only covers a slow
    answer. A run that stopped before claiming the id leaves no record (404), or another run's.
    """
    url = f"{api_url}/connections/{quote(connection_id, safe='')}"
    deadline = time.monotonic() + timeout
    while True:
        status, body = http_json("GET", url)
        record = _record_of(body) if status == 200 else None
        if record is not None and record.get("status") in FINAL_CONNECTION_STATUSES:
            return status, body
        if time.monotonic() >= deadline or cancelled():
            return status, body
        time.sleep(POLL_SECONDS * 2)


def onboard(args: argparse.Namespace) -> int:
    out = claim_stdout(args.verbose)
    # Handlers set their log level at import: quiet them before the stack loads them.
    environment = {} if args.verbose else {"POWERTOOLS_LOG_LEVEL": "WARNING"}
    with StopSignal() as stop, make_stack(args, port=0, environment=environment) as stack:
        if not stack.http_apis:
            raise LocalStackError("onboard goes through the template's HTTP API, and the template has none")
        api_url = stack.api_url
        deadline = time.monotonic() + args.timeout
        emit(out, f"Local stack on {stack.endpoint_url}, HTTP API on {api_url}")
        if stack.labellerr is not None:
            emit(out, f"Labellerr stand-in on {stack.labellerr.url} (--no-labellerr runs without it)")
        if stack.faults:
            emit(out, f"Injected faults: {', '.join(stack.faults)}")
        bucket, prefix, demo = choose_bucket(args)
        request: dict[str, Any] = {
            "connection_name": args.connection_name,
            "bucket": bucket,
            "access": args.access,
            "apply_cors": not args.no_cors,
        }
        if prefix is not None:
            request["prefix"] = prefix
        # Before the bucket is made or a sample uploaded: an invalid --bucket or --prefix touches nothing.
        problems = request_problems(request)
        if problems:
            emit(
                out, "The request is invalid; nothing was created (the API answers 400 with the same errors):"
            )
            for problem in problems:
                option = _OPTIONS.get(problem["field"])
                where = f"{problem['field']} ({option})" if option else problem["field"]
                emit(out, f"  {where}: {problem['message']}")
            return EXIT_USAGE
        prepare_bucket(stack, bucket, prefix, demo=demo, out=out)

        emit(out, f"POST {api_url}/connections {json.dumps(request)}")
        status, accepted = http_json(
            "POST", f"{api_url}/connections", request, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        keys = ("connection_id", "status", "execution_arn")
        if status != 202 or not (isinstance(accepted, dict) and all(accepted.get(key) for key in keys)):
            emit(out, f"The API answered {status}:")
            emit(out, json.dumps(accepted, indent=2) if not isinstance(accepted, str) else accepted)
            return EXIT_FAILED
        connection_id = str(accepted["connection_id"])
        execution_arn = str(accepted["execution_arn"])
        emit(
            out,
            f"  202 {accepted['status']}: connection {connection_id}, {accepted.get('url') or ''}".rstrip(),
        )
        emit(out, f"Execution {execution_arn.rsplit(':', 1)[-1]}")
        emit(out)

        sfn = stack.client("stepfunctions")
        remaining = max(0.0, deadline - time.monotonic())
        description = follow_execution(sfn, execution_arn, ExecutionTrace(out), remaining, stop.is_set)
        emit(out)
        if description is None:
            why = "Interrupted" if stop.is_set() else f"Timed out after {args.timeout:g} s"
            emit(out, f"{why}; stopping the execution.")
            sfn.stop_execution(executionArn=execution_arn, error="LocalStop")
            return EXIT_FAILED
        execution_status = description["status"]

        record_status, body = await_record(
            api_url, connection_id, timeout=RECORD_GRACE_SECONDS, cancelled=stop.is_set
        )
        record = _record_of(body) if record_status == 200 else None
        ours = record is not None and record.get("execution_arn") in (None, execution_arn)
        connection_status = record.get("status") if record is not None and ours else None
        succeeded = execution_status == "SUCCEEDED" and connection_status == "ACTIVE"

        if succeeded:
            emit(out, "Onboarding succeeded. Registry record:")
        elif record is not None and not ours:
            emit(out, f"Onboarding {execution_status}; the registry record belongs to another execution:")
        elif record is not None:
            emit(out, f"Onboarding {execution_status}; registry status {connection_status}. Registry record:")
        else:
            emit(out, f"Onboarding {execution_status}; no registry record (GET answered {record_status}):")
        emit(
            out, json.dumps(_without_the_cause(record if record is not None else body, description), indent=2)
        )
        if execution_status != "SUCCEEDED":
            emit(out)
            emit(out, f"Execution {execution_status}: {description.get('error') or '(no error)'}")
            emit(out, "Cause:")
            emit(out, pretty(description.get("cause")))
        secret_arn = (record or {}).get("secret_arn") if ours else None
        if succeeded and not secret_arn:
            output = json.loads(description.get("output") or "{}")
            secret_arn = output.get("secret_arn") if isinstance(output, dict) else None
        if succeeded:
            _emit_labellerr(out, stack, (record or {}).get("labellerr") if ours else None)
        if succeeded and secret_arn:
            emit(out)
            emit(out, "The access key is in Secrets Manager (not printed here). To read it:")
            emit(
                out,
                f"  aws --endpoint-url {stack.endpoint_url} --region {stack.region} "
                f"secretsmanager get-secret-value --secret-id '{secret_arn}'",
            )
        if succeeded and record is not None:
            emit(out)
            emit(
                out, "The preflight Labellerr's browser sends (Verify access sent it too), to rerun by hand:"
            )
            emit(out, "  " + preflight_curl(stack, record))
        if args.keep_running:
            emit(out)
            emit(out, f"Local stack still on {stack.endpoint_url}, HTTP API on {api_url}; Ctrl-C stops it.")
            stop.wait()
        elif succeeded:
            emit(out, "(The local stack stops now; --keep-running keeps it up to inspect.)")
        return EXIT_OK if succeeded else EXIT_FAILED


def _without_the_cause(shown: Any, description: dict[str, Any]) -> Any:
    """The record as shown, its error's cause (an escaped JSON string) left to the Cause block, once."""
    cause = description.get("cause")
    error = shown.get("error") if isinstance(shown, dict) else None
    if not cause or not isinstance(error, dict) or error.get("cause") != cause:
        return shown
    return {**shown, "error": {**error, "cause": "(below, under Cause)"}}


def request_problems(request: Mapping[str, Any]) -> list[dict[str, str]]:
    """The errors the API would answer 400 with: the same request model (provisioner_core.request, on the
    template's layer, importable once the stack runs) with the stack's settings. [] when the request is
    valid, or when the template has no such layer (the API then judges alone)."""
    try:
        from provisioner_core.config import Settings
        from provisioner_core.errors import InvalidRequest
        from provisioner_core.request import parse_request
    except ImportError:
        logger.warning("provisioner_core is not importable: the request is checked by the API only")
        return []
    try:
        parse_request(dict(request), labellerr_available=Settings.from_env().labellerr_enabled)
    except InvalidRequest as invalid:
        return [dict(problem) for problem in invalid.errors]
    return []


def _emit_labellerr(out: TextIO, stack: LocalStack, result: Any) -> None:
    if not isinstance(result, dict) or not result.get("registered"):
        if stack.labellerr is not None:
            emit(out)
            emit(out, "Not registered in Labellerr (register_in_labellerr is false).")
        return
    emit(out)
    emit(out, "Registered in Labellerr (its connection test passed):")
    for each in result.get("connections") or []:
        emit(out, f"  {each.get('connection_type')} connection {each.get('labellerr_connection_id')}")
    if stack.labellerr is not None:
        emit(out, f"  (the stand-in on {stack.labellerr.url}; serve prints its credentials)")


def preflight_curl(stack: LocalStack, record: dict[str, Any]) -> str:
    # The layer is importable once the stack runs (it puts the template's layers on sys.path).
    from provisioner_core import cors_probe
    from provisioner_core.config import Settings

    settings = Settings.from_env()
    origin = cors_probe.probe_origins(settings.cors_allowed_origins, settings.cors_probe_origins)[0]
    key = cors_probe.probe_key(str(record.get("prefix") or ""))
    url = cors_probe.object_url(str(record["bucket"]), key, stack.region, stack.endpoint_url)
    return cors_probe.curl_command(url, origin)
