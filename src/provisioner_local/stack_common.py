"""What the local stack's modules share: its error, its admin credentials, where the project is, and what a
stack's parts read of the other running stacks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol

# Not a key moto's IAM ever issues, so requests signed with it are never checked against IAM policies.
DUMMY_ACCESS_KEY_ID: Final = "testing"
DUMMY_SECRET_ACCESS_KEY: Final = "testing"  # noqa: S105 - a placeholder moto accepts, not a secret


class LocalStackError(RuntimeError):
    """The local stack cannot start as asked."""


def default_project_root() -> Path:
    # src/provisioner_local/stack_common.py -> the repository root.
    return Path(__file__).resolve().parents[2]


class StackFacts(Protocol):
    """What a stack's parts read of the other running stacks (they share moto and os.environ)."""

    @property
    def region(self) -> str: ...
    @property
    def template_path(self) -> Path: ...
    @property
    def function_environment(self) -> Mapping[str, str]: ...
    @property
    def state_machines(self) -> Mapping[str, str]: ...
    @property
    def tables(self) -> Mapping[str, str]: ...
