"""`provisioner smoke` and `provisioner preflight`: the deploy kit's checks (provisioner_ops), reached from
the same command with the same global options, so a person learns one tool."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from provisioner_cli.stack import Target


def smoke(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    """provisioner-smoke against the API `provisioner` resolved (stack output, --api-url or the environment),
    signed for its region; its own options (--origin, --timeout, --endpoint-url, ...) follow BUCKET."""
    from provisioner_ops import smoke as smoke_check

    if args.profile:
        # provisioner-smoke makes its clients from the default session: the profile reaches it this way.
        os.environ["AWS_PROFILE"] = args.profile
    argv = ["--api-url", target.api.base_url, "--region", target.region, "--bucket", args.bucket, *args.rest]
    return smoke_check.main(argv, out)


def preflight(args: argparse.Namespace, out: TextIO) -> int:
    """provisioner-preflight: what `sam deploy` would deploy, checked before it runs (no API is needed)."""
    from provisioner_ops import preflight as preflight_check

    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    argv = [*(["--stack-name", args.stack_name] if args.stack_name else [])]
    argv += [*(["--region", args.region] if args.region else []), *args.rest]
    return preflight_check.main(argv, out)
