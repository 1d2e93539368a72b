"""provisioner-local serve: the local stack until SIGINT/SIGTERM, its values on stdout (JSON, or --env).

With --detach the stack runs in a child of its own session and the command returns once it is up, having
printed its values: `eval "$(provisioner-local serve --env --detach)"` then gives a shell what
`provisioner` needs (PROVISIONER_API_URL, AWS_ENDPOINT_URL, made-up credentials, the region).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
from typing import Any, Final, TextIO

from provisioner_local.cli_common import EXIT_OK, StopSignal, claim_stdout, emit, make_stack
from provisioner_local.emulator import LocalStack

ONBOARD_STATE_MACHINE: Final = "OnboardConnectionStateMachine"

logger = logging.getLogger("provisioner_local")


def serve(args: argparse.Namespace) -> int:
    if args.detach:
        return _detached(args)
    return _serve(args, claim_stdout(args.verbose), {})


def _detached(args: argparse.Namespace) -> int:
    """Fork before the stack starts (no threads yet): the child serves in a session of its own, its stdin
    and stdout on /dev/null and its logs in a file, and hands its values to the parent through a pipe;
    the parent prints them and returns, so a shell's `$(...)` ends."""
    log_fd, log_path = tempfile.mkstemp(prefix="provisioner-local-", suffix=".log")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: serve until SIGINT/SIGTERM
        os.close(read_end)
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log_fd, 2)
        code = 1
        try:
            with os.fdopen(write_end, "w") as ready:
                claim_stdout(args.verbose)
                extra = {"PROVISIONER_LOCAL_PID": str(os.getpid()), "PROVISIONER_LOCAL_LOG": log_path}
                code = _serve(args, ready, extra)
        except BaseException:
            logger.exception("provisioner-local serve --detach failed")
        finally:
            os._exit(code)
    os.close(write_end)
    os.close(log_fd)
    with os.fdopen(read_end) as ready:
        values = ready.read()
    if not values:
        print(f"provisioner-local: the local stack did not start; its log: {log_path}", file=sys.stderr)
        return 1
    sys.stdout.write(values)
    sys.stdout.flush()
    return EXIT_OK


def _serve(args: argparse.Namespace, out: TextIO, extra: dict[str, str]) -> int:
    stack = make_stack(args, port=args.port, environment={}, api_port=args.api_port)
    with StopSignal() as stop:
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
            emit(out, shell_exports(ready, extra) if args.env else json.dumps({**ready, **extra}))
            if args.detach:
                out.close()  # the parent prints the values and returns
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


def shell_exports(ready: dict[str, Any], extra: dict[str, str] | None = None) -> str:
    """serve's values as lines a shell can `source`, so the docs' snippets need no copying by hand, and
    `provisioner` finds the stack (PROVISIONER_API_URL; AWS_ENDPOINT_URL for the runs' history)."""
    machines = ready["state_machines"]
    values = {
        "AWS_ENDPOINT_URL": ready["aws_endpoint"],
        # The local stack takes any credentials; these keep the AWS CLI and SDKs from looking for real ones.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # nosec B105 - a placeholder the local stack accepts, not a secret
        "AWS_DEFAULT_REGION": ready["region"],
        "API_URL": ready["api_url"] or "",
        "PROVISIONER_API_URL": ready["api_url"] or "",
        "ONBOARD_ARN": machines.get("OnboardConnectionStateMachine", ready["state_machine_arn"]),
        "OFFBOARD_ARN": machines.get("OffboardConnectionStateMachine", ""),
        "EVENT_BUS_NAME": ready["event_bus_name"] or "",
        **(extra or {}),
    }
    return "\n".join(f"export {name}={shlex.quote(str(value))}" for name, value in values.items())
