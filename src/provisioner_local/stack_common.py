"""What the local stack's modules share: its error, its admin credentials and where the project is."""

from __future__ import annotations

from pathlib import Path
from typing import Final

# Not a key moto's IAM ever issues, so requests signed with it are never checked against IAM policies.
DUMMY_ACCESS_KEY_ID: Final = "testing"
DUMMY_SECRET_ACCESS_KEY: Final = "testing"  # noqa: S105 - a placeholder moto accepts, not a secret


class LocalStackError(RuntimeError):
    """The local stack cannot start as asked."""


def default_project_root() -> Path:
    # src/provisioner_local/stack_common.py -> the repository root.
    return Path(__file__).resolve().parents[2]
