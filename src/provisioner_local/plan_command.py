"""provisioner-local plan: what an onboarding would do, through the HTTP API's POST /connections/plan.

Against a running `serve` stack (--api-url) it plans for that stack's buckets; otherwise it starts a fresh
embedded stack, which holds only the demo bucket it makes when --bucket is absent. A plan creates nothing:
a --bucket that does not exist is reported (check bucket_exists), never made.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from typing import Any, Final, TextIO

from provisioner_cli.render import plan_lines as summary_lines
from provisioner_local.cli_args import add_access
from provisioner_local.cli_common import claim_stdout, emit, make_stack
from provisioner_local.cli_demo import choose_bucket, prepare_bucket
from provisioner_local.cli_onboard import http_json
from provisioner_local.emulator import LocalStackError

EXIT_OK: Final = 0
EXIT_CHECK_FAILED: Final = 1
EXIT_INVALID: Final = 2


def add_parser(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    plan = commands.add_parser(
        "plan",
        help="show what an onboarding would do, creating and changing nothing",
        description="POST the request to the HTTP API's /connections/plan and print the plan: names and "
        "ARNs, the policy document and boundary, the bucket's CORS before and after, what was found in the "
        "bucket, the account's headroom and every check. Exit 0 when the onboarding would succeed, 1 when a "
        "check fails, 2 when the request is invalid (the API's 400).",
    )
    plan.add_argument(
        "--bucket", help="bucket to plan for (default: a demo bucket with sample images; never created)"
    )
    plan.add_argument("--prefix", help="prefix inside the bucket (default for the demo: images/)")
    add_access(plan)
    plan.add_argument("--no-cors", action="store_true", help="plan with apply_cors false")
    plan.add_argument("--connection-name", default="Demo images", help="default: %(default)s")
    plan.add_argument(
        "--connection-id", help="the id to plan for (default: derived from the name, with a random suffix)"
    )
    plan.add_argument(
        "--api-url",
        help="the HTTP API of a running `provisioner-local serve` (its api_url) instead of a fresh stack",
    )
    plan.add_argument("--json", action="store_true", help="print only the plan's JSON")
    add_common(plan)


def request_of(args: argparse.Namespace, bucket: str, prefix: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "connection_name": args.connection_name,
        "bucket": bucket,
        "access": args.access,
        "apply_cors": not args.no_cors,
    }
    if prefix is not None:
        request["prefix"] = prefix
    if args.connection_id is not None:
        request["connection_id"] = args.connection_id
    return request


def show(out: TextIO, emit: Callable[[TextIO, str], None], status: int, body: Any, only_json: bool) -> int:
    if status == 400:
        emit(out, "The request is invalid (400); POST /connections would refuse it the same way:")
        emit(out, json.dumps(body, indent=2))
        return EXIT_INVALID
    if status != 200 or not isinstance(body, dict):
        raise LocalStackError(f"POST /connections/plan answered {status}: {body}")
    if not only_json:
        for line in summary_lines(body):
            emit(out, line)
        emit(out, "")
        emit(out, "The plan:")
    emit(out, json.dumps(body, indent=2))
    return EXIT_OK if body["would_succeed"] else EXIT_CHECK_FAILED


def plan(args: argparse.Namespace) -> int:
    out = claim_stdout(args.verbose)
    if args.api_url:
        if args.bucket is None:
            raise LocalStackError("plan --api-url needs --bucket: a running stack has no demo bucket")
        api_url = args.api_url.rstrip("/")
        status, body = http_json(
            "POST", f"{api_url}/connections/plan", request_of(args, args.bucket, args.prefix)
        )
        return show(out, emit, status, body, args.json)
    environment = {} if args.verbose else {"POWERTOOLS_LOG_LEVEL": "WARNING"}
    with make_stack(args, port=0, environment=environment) as stack:
        if not stack.http_apis:
            raise LocalStackError("plan goes through the template's HTTP API, and the template has none")
        if args.bucket is None:
            # The demo's own bucket, made in the throwaway emulator so there is something to plan for.
            bucket, prefix, demo = choose_bucket(args)
            prepare_bucket(stack, bucket, prefix, demo=demo, out=io.StringIO() if args.json else out)
        else:
            bucket, prefix = args.bucket, args.prefix
        status, body = http_json(
            "POST", f"{stack.api_url}/connections/plan", request_of(args, bucket, prefix)
        )
        return show(out, emit, status, body, args.json)
