"""provisioner-local: the whole stack on this machine, without Docker or an AWS account.

provisioner-local serve     moto on 127.0.0.1 with the template's resources and functions, and the HTTP API,
                            until SIGINT/SIGTERM
provisioner-local onboard   one onboarding through the local HTTP API, traced state by state
provisioner-local plan      what an onboarding would do (POST /connections/plan), creating nothing
provisioner-local rotate    one key rotation (POST /connections/{id}/rotations), traced state by state

This module is the entry point (the console script and `python -m provisioner_local.cli`); the rest by
concern: cli_args (the command line), cli_common (exit codes, stdout, signals, the stack), cli_serve,
cli_onboard, cli_demo (onboard's bucket) and cli_trace (onboard's state-by-state trace).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from provisioner_cli.trace import ExecutionTrace, follow_execution
from provisioner_local import cli_rotate, plan_command
from provisioner_local.cli_args import DEFAULT_SERVE_PORT, DEMO_PREFIX, build_parser
from provisioner_local.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from provisioner_local.cli_demo import SAMPLE_IMAGES, tiny_png
from provisioner_local.cli_onboard import await_record, http_json, onboard, preflight_curl
from provisioner_local.cli_serve import serve, shell_exports
from provisioner_local.emulator import LocalStackError
from provisioner_local.faults import FaultSpecError
from provisioner_local.labellerr_wire import LabellerrFaultSpecError
from provisioner_local.template import TemplateError

# What the tests and other callers import from here, wherever it lives now.
__all__ = [
    "DEFAULT_SERVE_PORT",
    "DEMO_PREFIX",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "SAMPLE_IMAGES",
    "ExecutionTrace",
    "await_record",
    "build_parser",
    "follow_execution",
    "http_json",
    "main",
    "onboard",
    "preflight_curl",
    "serve",
    "shell_exports",
    "tiny_png",
]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {"serve": serve, "onboard": onboard, "plan": plan_command.plan, "rotate": cli_rotate.rotate}[
        args.command
    ]
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
