"""`provisioner`'s command line: the global options (before the command), then one subcommand each."""

from __future__ import annotations

import argparse
from typing import Final

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_INVALID: Final = 2
# The command could not do what was asked: no credentials, stack not found, 403, no answer.
EXIT_UNABLE: Final = 3

EPILOG: Final = """\
exit codes: 0 done (ACTIVE, DELETED, HEALTHY, accepted); 1 the run failed or was rolled back, or the check
found DEGRADED or BROKEN (or the API refused: 409, 404); 2 invalid request (the API's 400, printed field by
field) or usage; 3 could not ask (no credentials, stack not found, 403 from the gateway, no answer).

examples:
  provisioner connect acme-datasets/images/ --name "Satellite images"
  provisioner --api-url "$PROVISIONER_API_URL" status satellite-images-k3x9qa
  eval "$(provisioner-local serve --port 0 --env --detach)"; provisioner connect my-bucket  # the local stack
"""


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="BUCKET[/PREFIX]", help="the bucket, and the prefix in it (s3:// optional)"
    )
    parser.add_argument(
        "--access",
        choices=("import", "import_export"),
        default="import",
        help="import reads; import_export also writes and deletes under the prefix (default: %(default)s)",
    )
    parser.add_argument("--name", help="the connection's name (default: made from the bucket and prefix)")
    parser.add_argument("--connection-id", help="the id to use (default: derived from the name)")
    parser.add_argument("--no-cors", action="store_true", help="leave the bucket's CORS alone")
    parser.add_argument("--no-labellerr", action="store_true", help="do not register it in Labellerr")


def _wait(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"follow {what} until it ends, showing each state as it finishes (default: on a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provisioner",
        description="Drive a deployed Labellerr S3 provisioner stack through its HTTP API.\nEvery request "
        "is SigV4-signed with your AWS credentials (the standard chain: profiles, SSO, environment).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stack-name",
        help="the stack whose ApiUrl output to use (default: PROVISIONER_STACK, or samconfig.toml's "
        "stack_name when run in the project)",
    )
    parser.add_argument("--api-url", help="the HTTP API's URL instead of a stack (or PROVISIONER_API_URL)")
    parser.add_argument(
        "--region", help="AWS region (default: the SDK's; the API's own for an execute-api URL)"
    )
    parser.add_argument("--profile", help="AWS profile for credentials (default: the SDK's)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    connect = commands.add_parser(
        "connect",
        help="connect a bucket (POST /connections)",
        description="Start onboarding BUCKET[/PREFIX]. With --wait, show each state as it finishes, then "
        "the record; exit 0 ACTIVE, 1 failed or rolled back, 2 invalid request.",
    )
    _target(connect)
    connect.add_argument(
        "--idempotency-key", help="Idempotency-Key header: the same key and body start one run"
    )
    _wait(connect, "the onboarding")

    plan = commands.add_parser(
        "plan",
        help="what connecting would do, changing nothing (POST /connections/plan)",
        description="Exit 0 when the onboarding would succeed, 1 when a check fails, 2 invalid request.",
    )
    _target(plan)
    plan.add_argument("--json", action="store_true", help="print the plan's JSON as the API answers it")

    status = commands.add_parser("status", help="one connection's record (GET /connections/{id})")
    status.add_argument("connection_id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the record's JSON")

    listing = commands.add_parser("list", help="the connections, as a table (GET /connections)")
    listing.add_argument("--bucket", help="only this bucket's")
    listing.add_argument("--status", help="only connections in this status (ACTIVE, FAILED, ...)")
    listing.add_argument(
        "--health", help="only connections whose last health check found this (HEALTHY, DEGRADED, BROKEN)"
    )
    listing.add_argument("--json", action="store_true", help="print the records' JSON")

    rotate = commands.add_parser(
        "rotate",
        help="rotate a connection's access key; --confirm or --rollback the running rotation",
        description="Start a key rotation (POST /connections/{id}/rotations); --wait follows it to its end "
        "(in AWS it waits for the consumer to use the new key: days, by default). --confirm says the "
        "consumer uses the new key; --rollback, in the grace period, goes back to the old one.",
    )
    rotate.add_argument("connection_id", metavar="ID")
    signal = rotate.add_mutually_exclusive_group()
    signal.add_argument("--confirm", action="store_true", help="the consumer uses the new key")
    signal.add_argument("--rollback", action="store_true", help="back to the old key (grace period only)")
    rotate.add_argument(
        "--rotation-id", help="the rotation to confirm or roll back (default: the current one)"
    )
    _wait(rotate, "the rotation")

    for name, summary, description in (
        (
            "check",
            "check a connection's health, changing nothing (POST /connections/{id}/health-checks)",
            "Check a connection as Labellerr will use it, and what the stack made for it; nothing changes.",
        ),
        (
            "repair",
            "put back what the stack made, then check (POST /connections/{id}/repairs)",
            "Put back what the stack made for a connection and a person changed (never anything else), "
            "then check it again.",
        ),
    ):
        health = commands.add_parser(
            name,
            help=summary,
            description=f"{description} With --wait, show each state as it finishes, then the verdict and "
            "each finding; exit 0 HEALTHY, 1 DEGRADED, BROKEN or the run failed.",
        )
        health.add_argument("connection_id", metavar="ID")
        _wait(health, f"the {name}")

    disconnect = commands.add_parser(
        "disconnect",
        help="remove a connection and everything it holds (DELETE /connections/{id})",
        description="Exit 0 DELETED, 1 ROLLBACK_FAILED (naming what is left).",
    )
    disconnect.add_argument("connection_id", metavar="ID")
    _wait(disconnect, "the offboarding")

    smoke = commands.add_parser(
        "smoke",
        help="onboard, check from outside and offboard a scratch prefix of BUCKET (provisioner-smoke)",
        description="Exit 0 when every check passed, 1 otherwise. Options after BUCKET go to "
        "provisioner-smoke (--origin, --timeout, --endpoint-url, ...).",
    )
    smoke.add_argument("bucket", metavar="BUCKET", help="a bucket the stack may use (within AllowedBuckets)")
    smoke.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    preflight = commands.add_parser(
        "preflight",
        help="check what sam deploy would deploy and say what the stack may do (provisioner-preflight)",
        description="Run in the project directory. Options go to provisioner-preflight (--template, "
        "--config-env, --offline, ...).",
    )
    preflight.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser
