"""provisioner-local rotate: one key rotation through the local HTTP API, traced, then the connection's keys.

Against a fresh stack (the default) the connection is onboarded first, so the command runs on its own;
`--endpoint-url` and `--api-url` point it at a running `serve` instead. `--consumer-switches` plays the
consumer: once the new key is handed over it reads the secret's AWSCURRENT version and lists the prefix
with it, which is the use the rotation waits for before it retires the old key. Without it, the rotation
waits out its adoption period (seconds locally: the stack shortens every Wait) and stalls, as it would
in AWS with a consumer that never switched.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

import boto3

from provisioner_cli.trace import POLL_SECONDS, RotationTrace, execution_history
from provisioner_local.cli_common import EXIT_FAILED, EXIT_OK, StopSignal, claim_stdout, emit, make_stack
from provisioner_local.cli_demo import choose_bucket, prepare_bucket
from provisioner_local.cli_onboard import http_json
from provisioner_local.emulator import LocalStackError
from provisioner_local.stack_common import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY

FINAL: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
HANDED_OVER_STATE: Final = "Hand over rotation key"


def add_parser(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    rotate = commands.add_parser(
        "rotate",
        help="rotate a connection's access key through the local HTTP API and trace it",
        description="POST /connections/{id}/rotations, print each state of the rotation as it finishes (the "
        "waiting loops once, with their count), then the connection's keys as GET shows them. Against a "
        "fresh stack the connection is onboarded first. Exit 0 when the rotation succeeded (rotated or "
        "rolled back), 1 otherwise (stalled, failed).",
    )
    rotate.add_argument(
        "connection_id",
        nargs="?",
        default="demo-rotation",
        help="the connection to rotate (default: %(default)s)",
    )
    rotate.add_argument(
        "--consumer-switches",
        action="store_true",
        help="act as the consumer: once the new key is handed over, read it from the secret (AWSCURRENT) and "
        "list the prefix with it, so the rotation sees the new key used and retires the old one",
    )
    rotate.add_argument(
        "--endpoint-url", help="a running stack's endpoint (serve --env's AWS_ENDPOINT_URL); needs --api-url"
    )
    rotate.add_argument("--api-url", help="that stack's HTTP API (serve --env's API_URL)")
    rotate.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the rotation (default 120)"
    )
    add_common(rotate)


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    def client(service: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
        )

    return client("stepfunctions"), client("secretsmanager")


def _handed_over(history: list[dict[str, Any]]) -> bool:
    return any(
        e["type"] == "TaskStateExited"
        and e.get("stateExitedEventDetails", {}).get("name") == HANDED_OVER_STATE
        for e in history
    )


def act_as_consumer(secrets: Any, endpoint_url: str, record: dict[str, Any], out: TextIO) -> None:
    """What the consumer does on the Pending event: read the current version, use the key it holds."""
    value = json.loads(secrets.get_secret_value(SecretId=record["secret_arn"])["SecretString"])
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=value["region"],
        aws_access_key_id=value["access_key_id"],
        aws_secret_access_key=value["secret_access_key"],
    )
    s3.list_objects_v2(Bucket=value["bucket"], Prefix=value["prefix"], MaxKeys=1)
    emit(out, f"  (consumer) listed s3://{value['s3_uri']} with the new key {value['access_key_id']}")


def _onboard_first(
    api_url: str, sfn: Any, connection_id: str, bucket: str, prefix: str | None, out: TextIO
) -> None:
    request: dict[str, Any] = {
        "connection_id": connection_id,
        "connection_name": "Rotation demo",
        "bucket": bucket,
    }
    if prefix is not None:
        request["prefix"] = prefix
    status, accepted = http_json("POST", f"{api_url}/connections", request)
    if status != 202:
        raise LocalStackError(
            f"onboarding {connection_id} first: POST /connections answered {status}: {accepted}"
        )
    deadline = time.monotonic() + 60
    while sfn.describe_execution(executionArn=accepted["execution_arn"])["status"] not in FINAL:
        if time.monotonic() > deadline:
            raise LocalStackError(f"onboarding {connection_id} first did not end within 60 s")
        time.sleep(POLL_SECONDS)
    emit(out, f"Onboarded {connection_id} first (s3://{bucket}/{prefix or ''})")


def follow_rotation(
    sfn: Any,
    secrets: Any,
    endpoint_url: str,
    api_url: str,
    connection_id: str,
    execution_arn: str,
    *,
    consumer_switches: bool,
    out: TextIO,
    timeout: float,
    cancelled: Callable[[], bool],
) -> dict[str, Any] | None:
    trace = RotationTrace(out)
    switched = False
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        history = execution_history(sfn, execution_arn)
        trace.feed(history)
        if consumer_switches and not switched and _handed_over(history):
            status, record = http_json("GET", f"{api_url}/connections/{connection_id}")
            if status == 200:
                act_as_consumer(secrets, endpoint_url, record, out)
                switched = True
        if description["status"] in FINAL:
            trace.flush_loop()
            return description
        if time.monotonic() >= deadline or cancelled():
            return None
        time.sleep(POLL_SECONDS)


def _show_keys(out: TextIO, record: dict[str, Any]) -> None:
    rotation = record.get("rotation") or {}
    connection_id, status = record.get("connection_id"), record.get("status")
    emit(out, f"Connection {connection_id}: {status}, key {record.get('access_key_id')}")
    emit(out, f"Rotation {rotation.get('rotation_id')}: {rotation.get('stage')}")
    for key in record.get("keys") or []:
        used = key.get("last_used_at") or "never used"
        current = " (current)" if key.get("current") else ""
        emit(out, f"  {key['access_key_id']}  {key['status']:<8}  last used {used}{current}")
    for left in record.get("rotation_left_behind") or []:
        emit(out, f"  still there: {left}")


def rotate(args: argparse.Namespace) -> int:
    out = claim_stdout(args.verbose)
    if bool(args.endpoint_url) != bool(args.api_url):
        raise LocalStackError("rotate: give both --endpoint-url and --api-url (a running stack), or neither")
    with StopSignal() as stop:
        if args.endpoint_url:
            return _rotate(
                args, out, args.endpoint_url.rstrip("/"), args.api_url.rstrip("/"), "us-east-1", stop
            )
        environment = {} if args.verbose else {"POWERTOOLS_LOG_LEVEL": "WARNING"}
        with make_stack(args, port=0, environment=environment) as stack:
            if not stack.http_apis:
                raise LocalStackError(
                    "rotate goes through the template's HTTP API, and the template has none"
                )
            emit(out, f"Local stack on {stack.endpoint_url}, HTTP API on {stack.api_url}")
            sfn, _ = _clients(stack.endpoint_url, stack.region)
            status, _body = http_json("GET", f"{stack.api_url}/connections/{args.connection_id}")
            if status == 404:
                args.bucket, args.prefix = None, None
                bucket, prefix, demo = choose_bucket(args)
                prepare_bucket(stack, bucket, prefix, demo=demo, out=out)
                _onboard_first(stack.api_url, sfn, args.connection_id, bucket, prefix, out)
            return _rotate(args, out, stack.endpoint_url, stack.api_url, stack.region, stop)


def _rotate(
    args: argparse.Namespace, out: TextIO, endpoint_url: str, api_url: str, region: str, stop: StopSignal
) -> int:
    sfn, secrets = _clients(endpoint_url, region)
    status, started = http_json("POST", f"{api_url}/connections/{args.connection_id}/rotations")
    emit(out, f"POST {api_url}/connections/{args.connection_id}/rotations")
    if status != 202:
        emit(out, f"The API answered {status}:")
        emit(out, json.dumps(started, indent=2) if not isinstance(started, str) else started)
        return EXIT_FAILED
    emit(out, f"  202: rotation {started['rotation_id']}")
    emit(out)
    description = follow_rotation(
        sfn, secrets, endpoint_url, api_url, args.connection_id, started["execution_arn"],
        consumer_switches=args.consumer_switches, out=out, timeout=args.timeout, cancelled=stop.is_set,
    )  # fmt: skip
    emit(out)
    if description is None:
        emit(out, "Interrupted or timed out; stopping the rotation.")
        sfn.stop_execution(executionArn=started["execution_arn"], error="LocalStop")
        return EXIT_FAILED
    emit(
        out,
        f"Rotation {description['status']}"
        + (f": {description['error']}" if description.get("error") else ""),
    )
    status, record = http_json("GET", f"{api_url}/connections/{args.connection_id}")
    if status == 200:
        _show_keys(out, record)
    if not args.consumer_switches and description.get("error") == "RotationStalled":
        emit(out, "Nobody used the new key: --consumer-switches plays the consumer that does.")
    return EXIT_OK if description["status"] == "SUCCEEDED" else EXIT_FAILED
