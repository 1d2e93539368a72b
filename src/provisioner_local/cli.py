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

import argparse
import os
import sys
from collections.abc import Sequence

from provisioner_local import cli_args, cli_rotate, plan_command
from provisioner_local.cli_common import EXIT_FAILED, EXIT_USAGE
from provisioner_local.cli_onboard import onboard
from provisioner_local.cli_serve import serve
from provisioner_local.emulator import LocalStackError
from provisioner_local.faults import FaultSpecError
from provisioner_local.labellerr_wire import LabellerrFaultSpecError
from provisioner_local.template import TemplateError


def build_parser() -> argparse.ArgumentParser:
    """Every command's options: cli_args's serve and onboard, plan_command's plan, cli_rotate's rotate."""
    return cli_args.build_parser((plan_command.add_parser, cli_rotate.add_parser))


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
