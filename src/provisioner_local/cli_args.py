"""provisioner-local's command line: its commands and every option, with their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

# A command's module adds its subparser: (the subparsers, the options every command takes) -> None.
AddCommand = Callable[[Any, Callable[[argparse.ArgumentParser], None]], None]

DEFAULT_SERVE_PORT: Final = 4566
DEMO_PREFIX: Final = "images/"


def _parameter_override(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected Key=Value")
    return key, value


def add_access(parser: argparse.ArgumentParser) -> None:
    """--access, as onboard and plan both take it."""
    parser.add_argument(
        "--access",
        choices=["import", "import_export"],
        default="import",
        help="import: Labellerr reads; import_export: it also writes under the prefix (default: %(default)s)",
    )


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


def build_parser(more_commands: Sequence[AddCommand] = ()) -> argparse.ArgumentParser:
    """serve and onboard, and each of `more_commands` (plan_command's, cli_rotate's: see cli.build_parser)."""
    parser = argparse.ArgumentParser(
        prog="provisioner-local",
        description="Run the S3 provisioner's state machine and functions locally on an embedded moto.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
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
        "--bucket-config-delay",
        metavar="SPEC",
        default=None,
        help="model S3's eventually consistent bucket configuration: for SPEC seconds after a PutBucketCors "
        "or DeleteBucketCors, GetBucketCors and preflights still see the configuration from before it",
    )
    serve.add_argument(
        "--secret-deletion-delay",
        metavar="SPEC",
        default=None,
        help="model Secrets Manager's asynchronous deletion: a force-deleted secret's name stays taken "
        "(CreateSecret: InvalidRequestException) for SPEC seconds",
    )
    serve.add_argument(
        "--iam-throttle",
        metavar="RATE[,BURST]",
        default=None,
        help="model IAM's per-account throttling: past RATE calls per second (a bucket of BURST, default "
        "RATE), IAM answers 400 Throttling 'Rate exceeded'; mutating calls and Get*/List* reads have a "
        "bucket each (mutating=RATE[,BURST];read=RATE[,BURST] sets them apart). Default: no throttling",
    )
    serve.add_argument(
        "--env",
        action="store_true",
        help="print `export NAME=value` lines for a shell (AWS_ENDPOINT_URL, API_URL and "
        "PROVISIONER_API_URL, ONBOARD_ARN, OFFBOARD_ARN, EVENT_BUS_NAME, made-up AWS credentials and the "
        "region) instead of the JSON line: what `provisioner` and the AWS CLI need to use this stack",
    )
    serve.add_argument(
        "--detach",
        action="store_true",
        help="serve in the background: print the values once the stack is up and return, so "
        '`eval "$(provisioner-local serve --env --detach)"` works; the stack runs until `kill '
        "$PROVISIONER_LOCAL_PID` (--env prints it), its logs go to the file --env names",
    )
    _add_common(serve)

    onboard = commands.add_parser(
        "onboard",
        help="run one onboarding through the local HTTP API and trace it",
        description="Start a fresh local stack, make or pick a bucket, POST the request to the HTTP API's "
        "/connections, print each state of the execution as it finishes, then the connection's registry "
        "record. Exit 0 when the connection is ACTIVE, 1 otherwise, 2 when the request is invalid (checked "
        "with the API's own rules before any bucket is made or sample uploaded).",
    )
    onboard.add_argument(
        "--bucket",
        help="bucket to connect, created (empty) in the fresh local stack when missing "
        "(default: a demo bucket with sample images)",
    )
    onboard.add_argument("--prefix", help=f"prefix inside the bucket (default for the demo: {DEMO_PREFIX})")
    add_access(onboard)
    onboard.add_argument("--no-cors", action="store_true", help="leave the bucket's CORS alone")
    onboard.add_argument(
        "--connection-name",
        default="Demo images",
        help="the connection's name; its id is derived from it (default: %(default)s)",
    )
    onboard.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the execution (default 120)"
    )
    onboard.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the local stack up afterwards (until Ctrl-C) to inspect what was created",
    )
    _add_common(onboard)
    for add_command in more_commands:
        add_command(commands, _add_common)
    return parser


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labellerr-s3-provisioner")
    except PackageNotFoundError:
        return "unknown (not installed)"
