"""provisioner-local serve: the local stack until SIGINT/SIGTERM, its values on stdout (JSON, or --env)."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
from typing import Any, Final

from provisioner_local.cli_common import EXIT_OK, StopSignal, claim_stdout, emit, make_stack
from provisioner_local.emulator import LocalStack

ONBOARD_STATE_MACHINE: Final = "OnboardConnectionStateMachine"

logger = logging.getLogger("provisioner_local")


def serve(args: argparse.Namespace) -> int:
    out = claim_stdout(args.verbose)
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
            emit(out, shell_exports(ready) if args.env else json.dumps(ready))
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
