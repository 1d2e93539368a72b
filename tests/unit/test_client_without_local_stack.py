"""`pip install .` is the client: `provisioner` and the deploy tools run without moto or the local stack.

Each console script is started in a fresh interpreter in which importing moto, the local stack, or the
layer's packages fails (a meta-path finder refuses them), so a stray import anywhere on the way fails the
test. And pyproject.toml keeps the local stack's packages in the `local` extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SCRIPTS = PYPROJECT["project"]["scripts"]
BLOCKED = (
    "moto",
    "provisioner_local",
    "provisioner_core",
    "provisioner_api",
    "aws_lambda_powertools",
    "pydantic",
    "werkzeug",
)
LOCAL_ONLY = ("moto", "aws-lambda-powertools", "pydantic")

RUNNER = """
import contextlib, importlib, io, json, sys

BLOCKED = set(json.loads(sys.argv[1]))


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
        return None


sys.meta_path.insert(0, Refuse())
module_name, function = sys.argv[2].split(":")
module = importlib.import_module(module_name)
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = getattr(module, function)(sys.argv[3:])
    except SystemExit as exit:
        code = exit.code
loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
origin = sys.modules["provisioner_ops"].__file__ if "provisioner_ops" in sys.modules else None
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "loaded": loaded, "origin": origin}))
"""


def run_script(entry: str, *argv: str, blocked: tuple[str, ...] = BLOCKED) -> dict:
    done = subprocess.run(  # noqa: S603 - this interpreter, the runner above
        [sys.executable, "-c", RUNNER, json.dumps(blocked), entry, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"},
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_client_is_a_console_script_of_the_package():
    assert SCRIPTS["provisioner"] == "provisioner_cli.cli:main"


@pytest.mark.parametrize("script", sorted(name for name in SCRIPTS if name != "provisioner-local"))
def test_each_client_script_runs_its_help_without_the_local_stack(script):
    result = run_script(SCRIPTS[script], "--help")
    assert result["code"] == 0, result
    assert result["out"].startswith(f"usage: {script}"), result["out"]
    assert result["loaded"] == []
    assert result["origin"] is None or result["origin"].startswith(str(REPO_ROOT / "src"))


def test_provisioner_help_names_every_command():
    out = run_script(SCRIPTS["provisioner"], "--help")["out"]
    for command in ("connect", "plan", "status", "list", "rotate", "disconnect"):
        assert command in out
    for option in ("--stack-name", "--api-url", "--region", "--profile"):
        assert option in out


def test_provisioner_local_without_its_extra_says_how_to_install_it():
    # The wheel holds the local stack's code; what `pip install .` leaves out is what it imports.
    missing = tuple(name for name in BLOCKED if not name.startswith("provisioner_"))
    result = run_script(SCRIPTS["provisioner-local"], "onboard", blocked=missing)
    assert result["code"] == 2
    assert "pip install '.[local]'" in result["err"]
    assert result["err"].count("\n") == 1


def _names(requirements: list[str]) -> set[str]:
    return {
        requirement.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip()
        for requirement in requirements
    }


def test_the_local_stack_is_an_extra():
    base = _names(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "boto3" in base
    assert not base & set(LOCAL_ONLY)
    assert set(LOCAL_ONLY) <= _names(extras["local"])
    # The tests run the local stack: dev brings the extra along.
    assert f"{PYPROJECT['project']['name']}[local]" in extras["dev"]
