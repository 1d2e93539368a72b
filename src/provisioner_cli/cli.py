"""`provisioner`'s entry point: parse, find the stack, run the command; any failure is one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from provisioner_cli import commands, commands_health, commands_ops, commands_rotate
from provisioner_cli.args import EXIT_UNABLE, build_parser
from provisioner_cli.signing import ApiUnreachable
from provisioner_cli.stack import CliError, Target, describe_client_error, resolve

EXIT_INTERRUPTED: Final = 130

Command = Callable[[argparse.Namespace, Target, TextIO], int]
COMMANDS: Final[dict[str, Command]] = {
    "connect": commands.connect,
    "plan": commands.plan,
    "status": commands.status,
    "list": commands.list_connections,
    "rotate": commands_rotate.rotate,
    "check": commands_health.check,
    "repair": commands_health.repair,
    "disconnect": commands.disconnect,
    "smoke": commands_ops.smoke,
}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    # preflight's own options pass through: argparse's REMAINDER cannot start with an option.
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "preflight":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.rest = [*args.rest, *unknown]
    try:
        if args.command == "preflight":
            return commands_ops.preflight(args, out)
        target = resolve(
            api_url=args.api_url, stack_name=args.stack_name, region=args.region, profile=args.profile
        )
        return COMMANDS[args.command](args, target, out)
    except CliError as error:
        print(f"provisioner: {error}", file=err)
        return error.code
    except ApiUnreachable as error:
        print(f"provisioner: {error}", file=err)
        return EXIT_UNABLE
    except (BotoCoreError, ClientError) as error:
        print(f"provisioner: {describe_client_error(error)}", file=err)
        return EXIT_UNABLE
    except BrokenPipeError:
        # stdout went away (| head): nothing left to tell; keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_UNABLE
    except KeyboardInterrupt:
        print("provisioner: stopped waiting; the run goes on in the stack (provisioner status ID)", file=err)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
