"""The `provisioner-local` console script's entry: the local stack when its extra is installed, otherwise
one line saying how to install it (the client's `pip install .` leaves moto and the layer's packages out).

It lives here because importing provisioner_local at all needs moto; nothing else in provisioner_cli
imports the local stack.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from typing import Final

# What the `local` extra installs (import names); the local stack imports some only once it starts.
LOCAL_STACK_MODULES: Final = ("moto", "aws_lambda_powertools", "pydantic", "werkzeug")
EXIT_USAGE: Final = 2


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    missing = [name for name in LOCAL_STACK_MODULES if not _installed(name)]
    if missing:
        print(
            f"provisioner-local: the local stack is not installed ({', '.join(missing)} missing): "
            "pip install '.[local]' in the project (make demo does), or use `provisioner` against a "
            "deployed stack",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from provisioner_local.cli import main as local_main

    return local_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
