"""provisioner-local: the whole stack on this machine, without Docker or an AWS account.

provisioner-local serve     moto on 127.0.0.1 with the template's resources and functions, and the HTTP API,
                            until SIGINT/SIGTERM
provisioner-local onboard   one onboarding through the local HTTP API, traced state by state
provisioner-local plan      what an onboarding would do (POST /connections/plan), creating nothing
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shlex
import signal
import string
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final, TextIO
from urllib.parse import quote

from botocore.exceptions import ClientError

from provisioner_local import plan_command
from provisioner_local.emulator import LocalStack, LocalStackError
from provisioner_local.faults import FaultSpecError
from provisioner_local.labellerr_wire import LabellerrFaultSpecError
from provisioner_local.template import TemplateError

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

DEFAULT_SERVE_PORT: Final = 4566
DEMO_PREFIX: Final = "images/"
FINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# A connection's registry status once its onboarding has ended.
FINAL_CONNECTION_STATUSES: Final = frozenset({"ACTIVE", "FAILED", "ROLLBACK_FAILED"})
POLL_SECONDS: Final = 0.05
# After the execution has ended, how long the API may take to show its outcome in the registry.
RECORD_GRACE_SECONDS: Final = 3.0
HTTP_TIMEOUT_SECONDS: Final = 30.0
ONBOARD_STATE_MACHINE: Final = "OnboardConnectionStateMachine"

logger = logging.getLogger("provisioner_local")


# --- argument parsing


def _parameter_override(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected Key=Value")
    return key, value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SERVICE:OPERATION[:N|:lost|:lost:N][@FUNCTION]",
        help="fail this AWS call of the functions (botocore names, e.g. iam:CreateAccessKey); "
        "with :N only the first N calls; with :lost the first call takes effect and its reply is lost; "
        "with @FUNCTION (e.g. @Rollback) only that function's calls; labellerr:test, labellerr:create, "
        "labellerr:delete (also list, details; with :N, :lost, :lost:N) make the Labellerr stand-in answer "
        "500; repeatable",
    )
    parser.add_argument(
        "--no-labellerr",
        action="store_true",
        help="run without the Labellerr stand-in: the stack gets no Labellerr credentials, no hand-off",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        type=_parameter_override,
        metavar="KEY=VALUE",
        help="template parameter values, like sam deploy --parameter-overrides",
    )
    parser.add_argument("--template", type=Path, default=None, help="template.yaml (default: the repo's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the functions' and moto's logs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provisioner-local",
        description="Run the S3 provisioner's state machine and functions locally on an embedded moto.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve the local stack until SIGINT/SIGTERM",
        description="Start the local stack on 127.0.0.1. When it is ready, stdout gets exactly one JSON "
        'line: {"aws_endpoint", "region", "state_machine_arn", "state_machines", "api_url", '
        '"event_bus_name", "labellerr"}; "labellerr" is {"api_url", "client_id", "api_key", "api_secret"} of '
        "the Labellerr stand-in (made-up local values; null with --no-labellerr). All logs go to stderr.",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SERVE_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_SERVE_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--api-port",
        type=int,
        default=0,
        help="port of the HTTP API on 127.0.0.1 (default 0: a free one; see api_url)",
    )
    serve.add_argument(
        "--propagation-delay",
        metavar="SPEC",
        default=None,
        help="model IAM propagation for issued keys: a new key answers InvalidAccessKeyId and a new policy "
        "attachment AccessDenied for SPEC seconds (a number, or lognormal:median=M,p95=P), on the stack's "
        "emulated clock (real time plus the retry waits it shortens)",
    )
    serve.add_argument(
        "--env",
        action="store_true",
        help="print `export NAME=value` lines for a shell (AWS_ENDPOINT_URL, API_URL, ONBOARD_ARN, "
        "OFFBOARD_ARN, EVENT_BUS_NAME, made-up AWS credentials and the region) instead of the JSON line",
    )
    _add_common(serve)

    onboard = commands.add_parser(
        "onboard",
        help="run one onboarding through the local HTTP API and trace it",
        description="Start a fresh local stack, make or pick a bucket, POST the request to the HTTP API's "
        "/connections, print each state of the execution as it finishes, then the connection's registry "
        "record. Exit 0 when the connection is ACTIVE, 1 otherwise.",
    )
    onboard.add_argument("--bucket", help="bucket to connect (default: a demo bucket with sample images)")
    onboard.add_argument("--prefix", help=f"prefix inside the bucket (default for the demo: {DEMO_PREFIX})")
    onboard.add_argument("--access", choices=["import", "import_export"], default="import")
    onboard.add_argument("--no-cors", action="store_true", help="leave the bucket's CORS alone")
    onboard.add_argument("--connection-name", default="Demo images", help="default: %(default)s")
    onboard.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the execution (default 120)"
    )
    onboard.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the local stack up afterwards (until Ctrl-C) to inspect what was created",
    )
    _add_common(onboard)
    plan_command.add_parser(commands, _add_common)
    return parser


# --- output plumbing


def _claim_stdout(verbose: bool) -> TextIO:
    """Give the caller the real stdout and send everything else (logs, Powertools' stdout) to stderr."""
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if verbose:
        logging.getLogger("werkzeug").setLevel(logging.INFO)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.WARNING)
    return real_stdout


def _emit(stream: TextIO, text: str = "") -> None:
    stream.write(text + "\n")
    stream.flush()


class _StopSignal:
    """SIGINT and SIGTERM set a flag instead of raising in the middle of moto.

    A flag, not a threading.Event: the handler runs in the main thread, which may hold the Event's lock
    at that moment (inside Event.wait), and Event.set would then deadlock.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self) -> None:
        while not self.requested:
            time.sleep(0.1)


def _make_stack(
    args: argparse.Namespace, *, port: int, environment: dict[str, str], api_port: int = 0
) -> LocalStack:
    return LocalStack(
        port=port,
        api_port=api_port,
        faults=args.fault,
        parameter_overrides=dict(args.parameter_overrides),
        template_path=args.template,
        environment=environment,
        propagation_delay=getattr(args, "propagation_delay", None),
        labellerr=not args.no_labellerr,
    )


# --- serve


def serve(args: argparse.Namespace) -> int:
    out = _claim_stdout(args.verbose)
    stack = _make_stack(args, port=args.port, environment={}, api_port=args.api_port)
    with _StopSignal() as stop:
        stack.start()
        try:
            ready = {
                "aws_endpoint": stack.endpoint_url,
                "region": stack.region,
                "state_machine_arn": _onboarding_state_machine(stack),
                "state_machines": dict(stack.state_machines),
                "api_url": next(iter(stack.api_urls.values()), None),
                "event_bus_name": stack.event_bus_name,
                # Local, made-up values: any client can list the stand-in's connections with them.
                "labellerr": stack.labellerr.credentials if stack.labellerr is not None else None,
            }
            _emit(out, shell_exports(ready) if args.env else json.dumps(ready))
            logger.warning(
                "provisioner-local serving AWS on %s, the HTTP API on %s; Ctrl-C or SIGTERM stops it",
                stack.endpoint_url,
                ready["api_url"] or "(none)",
            )
            stop.wait()
        finally:
            stack.stop()
    return EXIT_OK


def _onboarding_state_machine(stack: LocalStack) -> str:
    return stack.state_machines.get(ONBOARD_STATE_MACHINE) or stack.state_machine_arn


# --- onboard: demo data


def tiny_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A valid size x size PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


SAMPLE_IMAGES: Final = {
    "red.png": (220, 40, 40),
    "green.png": (40, 180, 70),
    "blue.png": (40, 90, 220),
}


def _random_suffix(length: int = 6) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _prepare_bucket(stack: LocalStack, args: argparse.Namespace, out: TextIO) -> tuple[str, str | None]:
    s3 = stack.client("s3")
    if args.bucket is None:
        bucket = f"labellerr-demo-{_random_suffix()}"
        prefix = args.prefix if args.prefix is not None else DEMO_PREFIX
        s3.create_bucket(Bucket=bucket)
        for name, rgb in SAMPLE_IMAGES.items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=tiny_png(rgb), ContentType="image/png")
        _emit(out, f"Demo bucket {bucket} with {len(SAMPLE_IMAGES)} sample images under {prefix or '/'}")
        return bucket, prefix
    try:
        s3.head_bucket(Bucket=args.bucket)
    except ClientError:
        s3.create_bucket(Bucket=args.bucket)
        _emit(out, f"Bucket {args.bucket} did not exist in the fresh local emulator: created it, empty")
    return args.bucket, args.prefix


# --- onboard: the trace


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
            error = str(_failure_details(event).get("error") or kind)
            self.open[-1].errors.append(error)
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
            caught = f"failed: {state.errors[-1]} (caught)"
            return f"{caught}, {retried}" if retried else caught
        return f"succeeded, {retried}"

    def _finish(self, state: _OpenState, left: datetime, outcome: str) -> None:
        milliseconds = max(0, round((left - state.entered).total_seconds() * 1000))
        line = f"  {state.name:<24} {outcome:<40} {milliseconds:>6} ms"
        self.lines.append(line)
        _emit(self.out, line)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def follow_execution(
    sfn: Any,
    execution_arn: str,
    trace: ExecutionTrace,
    timeout: float,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any] | None:
    """Feed the trace until the execution is final; None when the deadline passes or it is cancelled."""
    deadline = time.monotonic() + timeout
    while True:
        # Status first: when it is final, the history read after it is complete.
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        trace.feed(_history(sfn, execution_arn))
        if description["status"] in FINAL_STATUSES:
            return description
        if time.monotonic() >= deadline or (cancelled is not None and cancelled()):
            return None
        time.sleep(POLL_SECONDS)


def _pretty(text: str | None) -> str:
    if not text:
        return "(none)"
    try:
        return json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        return text


# --- onboard


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
    out = _claim_stdout(args.verbose)
    # Handlers set their log level at import: quiet them before the stack loads them.
    environment = {} if args.verbose else {"POWERTOOLS_LOG_LEVEL": "WARNING"}
    with _StopSignal() as stop, _make_stack(args, port=0, environment=environment) as stack:
        if not stack.http_apis:
            raise LocalStackError("onboard goes through the template's HTTP API, and the template has none")
        api_url = stack.api_url
        deadline = time.monotonic() + args.timeout
        _emit(out, f"Local stack on {stack.endpoint_url}, HTTP API on {api_url}")
        if stack.labellerr is not None:
            _emit(out, f"Labellerr stand-in on {stack.labellerr.url} (--no-labellerr runs without it)")
        if stack.faults:
            _emit(out, f"Injected faults: {', '.join(stack.faults)}")
        bucket, prefix = _prepare_bucket(stack, args, out)
        request: dict[str, Any] = {
            "connection_name": args.connection_name,
            "bucket": bucket,
            "access": args.access,
            "apply_cors": not args.no_cors,
        }
        if prefix is not None:
            request["prefix"] = prefix

        _emit(out, f"POST {api_url}/connections {json.dumps(request)}")
        status, accepted = http_json(
            "POST", f"{api_url}/connections", request, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        keys = ("connection_id", "status", "execution_arn")
        if status != 202 or not (isinstance(accepted, dict) and all(accepted.get(key) for key in keys)):
            _emit(out, f"The API answered {status}:")
            _emit(out, json.dumps(accepted, indent=2) if not isinstance(accepted, str) else accepted)
            return EXIT_FAILED
        connection_id = str(accepted["connection_id"])
        execution_arn = str(accepted["execution_arn"])
        _emit(
            out,
            f"  202 {accepted['status']}: connection {connection_id}, {accepted.get('url') or ''}".rstrip(),
        )
        _emit(out, f"Execution {execution_arn.rsplit(':', 1)[-1]}")
        _emit(out)

        sfn = stack.client("stepfunctions")
        remaining = max(0.0, deadline - time.monotonic())
        description = follow_execution(sfn, execution_arn, ExecutionTrace(out), remaining, stop.is_set)
        _emit(out)
        if description is None:
            why = "Interrupted" if stop.is_set() else f"Timed out after {args.timeout:g} s"
            _emit(out, f"{why}; stopping the execution.")
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
            _emit(out, "Onboarding succeeded. Registry record:")
        elif record is not None and not ours:
            _emit(out, f"Onboarding {execution_status}; the registry record belongs to another execution:")
        elif record is not None:
            _emit(
                out, f"Onboarding {execution_status}; registry status {connection_status}. Registry record:"
            )
        else:
            _emit(out, f"Onboarding {execution_status}; no registry record (GET answered {record_status}):")
        _emit(out, json.dumps(record if record is not None else body, indent=2))
        if execution_status != "SUCCEEDED":
            _emit(out)
            _emit(out, f"Execution {execution_status}: {description.get('error') or '(no error)'}")
            _emit(out, "Cause:")
            _emit(out, _pretty(description.get("cause")))
        secret_arn = (record or {}).get("secret_arn") if ours else None
        if succeeded and not secret_arn:
            output = json.loads(description.get("output") or "{}")
            secret_arn = output.get("secret_arn") if isinstance(output, dict) else None
        if succeeded:
            _emit_labellerr(out, stack, (record or {}).get("labellerr") if ours else None)
        if succeeded and secret_arn:
            _emit(out)
            _emit(out, "The access key is in Secrets Manager (not printed here). To read it:")
            _emit(
                out,
                f"  aws --endpoint-url {stack.endpoint_url} --region {stack.region} "
                f"secretsmanager get-secret-value --secret-id '{secret_arn}'",
            )
        if succeeded and record is not None:
            _emit(out)
            _emit(
                out, "The preflight Labellerr's browser sends (Verify access sent it too), to rerun by hand:"
            )
            _emit(out, "  " + preflight_curl(stack, record))
        if args.keep_running:
            _emit(out)
            _emit(out, f"Local stack still on {stack.endpoint_url}, HTTP API on {api_url}; Ctrl-C stops it.")
            stop.wait()
        elif succeeded:
            _emit(out, "(The local stack stops now; --keep-running keeps it up to inspect.)")
        return EXIT_OK if succeeded else EXIT_FAILED


def _emit_labellerr(out: TextIO, stack: LocalStack, result: Any) -> None:
    if not isinstance(result, dict) or not result.get("registered"):
        if stack.labellerr is not None:
            _emit(out)
            _emit(out, "Not registered in Labellerr (register_in_labellerr is false).")
        return
    _emit(out)
    _emit(out, "Registered in Labellerr (its connection test passed):")
    for each in result.get("connections") or []:
        _emit(out, f"  {each.get('connection_type')} connection {each.get('labellerr_connection_id')}")
    if stack.labellerr is not None:
        _emit(out, f"  (the stand-in on {stack.labellerr.url}; serve prints its credentials)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labellerr-s3-provisioner")
    except PackageNotFoundError:
        return "unknown (not installed)"


def shell_exports(ready: dict[str, Any]) -> str:
    """serve's values as lines a shell can `source`, so README snippets need no copying by hand."""
    machines = ready["state_machines"]
    values = {
        "AWS_ENDPOINT_URL": ready["aws_endpoint"],
        # The local stack takes any credentials; these keep the AWS CLI and SDKs from looking for real ones.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # nosec B105 - a placeholder the local stack accepts, not a secret
        "AWS_DEFAULT_REGION": ready["region"],
        "API_URL": ready["api_url"] or "",
        "ONBOARD_ARN": machines.get("OnboardConnectionStateMachine", ready["state_machine_arn"]),
        "OFFBOARD_ARN": machines.get("OffboardConnectionStateMachine", ""),
        "EVENT_BUS_NAME": ready["event_bus_name"] or "",
    }
    return "\n".join(f"export {name}={shlex.quote(str(value))}" for name, value in values.items())


def preflight_curl(stack: LocalStack, record: dict[str, Any]) -> str:
    # The layer is importable once the stack runs (it puts the template's layers on sys.path).
    from provisioner_core import cors_probe
    from provisioner_core.config import Settings

    settings = Settings.from_env()
    origin = cors_probe.probe_origins(settings.cors_allowed_origins, settings.cors_probe_origins)[0]
    key = cors_probe.probe_key(str(record.get("prefix") or ""))
    url = cors_probe.object_url(str(record["bucket"]), key, stack.region, stack.endpoint_url)
    return cors_probe.curl_command(url, origin)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {"serve": serve, "onboard": onboard, "plan": plan_command.plan}[args.command]
    stdout = sys.stdout
    try:
        return command(args)
    except (TemplateError, LocalStackError, FaultSpecError, LabellerrFaultSpecError) as error:
        print(f"provisioner-local: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # stdout went away (| head): nothing left to tell; keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return EXIT_FAILED
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
