"""`make test` on a machine without Chromium: it installs it when it may, and otherwise stops at once with
the one command to run (scripts/ensure_system_tools.sh), never after minutes of other tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure_system_tools.sh"


def _bin(tmp_path: Path, **tools: str) -> Path:
    """A PATH holding only the given tools, each a shell script with the given body."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, body in tools.items():
        tool = directory / name
        tool.write_text(f"#!/bin/bash\n{body}\n")
        tool.chmod(0o755)
    return directory


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
        ["/bin/bash", str(SCRIPT)], env={"PATH": str(path)}, capture_output=True, text=True, timeout=30
    )


def test_without_chromium_and_without_root_it_fails_at_once_naming_the_command(tmp_path: Path) -> None:
    result = _run(_bin(tmp_path, id="echo 1000", curl="true"))
    assert result.returncode == 1
    assert "sudo apt-get update && sudo apt-get install -y chromium" in result.stderr
    assert "curl" not in result.stderr.split("install -y", 1)[1].splitlines()[0]


def test_with_both_tools_present_it_does_nothing(tmp_path: Path) -> None:
    result = _run(_bin(tmp_path, id="echo 1000", curl="true", chromium="true"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_as_root_it_installs_what_is_missing_with_apt_get(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    path = _bin(tmp_path, id="echo 0", curl="true", **{"apt-get": f'echo "$@" >> {log}'})
    result = _run(path)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
