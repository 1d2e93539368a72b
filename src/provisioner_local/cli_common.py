"""What provisioner-local's commands share: exit codes, stdout for results only, signals, the stack."""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import Any, Final, TextIO

from provisioner_cli.render import emit as emit
from provisioner_local.emulator import LocalStack

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

# --- output plumbing


class _Discard(io.TextIOBase):
    """Where the functions' own prints go without -v: Powertools Metrics flushes its EMF JSON with print(),
    which in AWS lands in CloudWatch Logs, not in front of the person reading the trace."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def claim_stdout(verbose: bool) -> TextIO:
    """Give the caller the real stdout; the functions' own output (Powertools' logs and metrics) goes to
    stderr with -v, and nowhere without it. Warnings and errors are logged to stderr either way."""
    real_stdout = sys.stdout
    sys.stdout = sys.stderr if verbose else _Discard()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if verbose:
        logging.getLogger("werkzeug").setLevel(logging.INFO)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.WARNING)
    return real_stdout


class StopSignal:
    """SIGINT and SIGTERM set a flag instead of raising in the middle of moto.

    A flag, not a threading.Event: the handler runs in the main thread, which may hold the Event's lock
    at that moment (inside Event.wait), and Event.set would then deadlock.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
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


def make_stack(
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
        bucket_config_delay=getattr(args, "bucket_config_delay", None),
        secret_deletion_delay=getattr(args, "secret_deletion_delay", None),
        iam_throttle=getattr(args, "iam_throttle", None),
        labellerr=not args.no_labellerr,
        region=user_region(),
    )


def user_region() -> str | None:
    """The region the user set, AWS_REGION first as the AWS CLI v2 reads it; None: the stack's default."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
