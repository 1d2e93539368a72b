"""The local stack's command line as the local tier runs it: the fixture template and the console script."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from provisioner_local.template import SamTemplate, TemplateError

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "local" / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"


def _project_problem() -> str | None:
    """Why the project's own template cannot run yet (a handler still being written, say), or None."""
    if not (REPO_ROOT / "template.yaml").exists() or not (REPO_ROOT / "functions").is_dir():
        return "the project's template and functions are not there yet"
    try:
        SamTemplate.load(REPO_ROOT / "template.yaml").functions()
    except TemplateError as error:
        return f"the project's template cannot run yet: {error}"
    return None


needs_project = pytest.mark.skipif(_project_problem() is not None, reason=str(_project_problem()))


def cli_command(*args: str) -> list[str]:
    """The `provisioner-local` console script with `args` (the module, where the script is not installed)."""
    script = Path(sys.executable).with_name("provisioner-local")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "provisioner_local.cli", *args]
