"""The README's first connection against the local stack runs as pasted: `serve --env --detach`, a bucket,
`provisioner connect --wait`, `provisioner list`, and the stack stopped.

The block is read from README.md each run. Substitutions only: `.venv/bin/provisioner-local`,
`.venv/bin/provisioner` and `.venv/bin/python` run this checkout's code with the test's own interpreter.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
SECTION = "## Using the deployed stack: provisioner"

pytestmark = pytest.mark.flow


def local_block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    following = re.compile(r"^#{1,2} ", re.MULTILINE).search(text, start + len(SECTION))
    section = text[start : following.start() if following else len(text)]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    [block] = [block for block in blocks if "serve --port 0 --env --detach" in block]
    return block


def test_the_section_has_the_block_this_test_runs():
    block = local_block()
    assert ".venv/bin/provisioner connect" in block
    assert "kill $PROVISIONER_LOCAL_PID" in block


def test_the_first_local_connection_runs_as_pasted(tmp_path):
    python_path = os.pathsep.join(str(REPO_ROOT / part) for part in ("src", "layers/provisioner_core"))
    python = shlex.quote(sys.executable)
    snippet = (
        local_block()
        .replace(".venv/bin/provisioner-local", "provisioner_local_cli")
        .replace(".venv/bin/provisioner", "provisioner_cli")
        .replace(".venv/bin/python", python)
    )
    pid_file = tmp_path / "pid"
    script = f"""set -euo pipefail
export PYTHONPATH={shlex.quote(python_path)}
provisioner_local_cli() {{ {python} -m provisioner_local.cli "$@"; }}
provisioner_cli() {{ {python} -m provisioner_cli "$@"; }}
trap 'exit 143' TERM
trap 'echo "${{PROVISIONER_LOCAL_PID:-}}" > {shlex.quote(str(pid_file))}' EXIT
{snippet}
"""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PROVISIONER_"))
    }
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - bash running the README's own lines
            ["bash", "-c", script],  # noqa: S607
            cwd=REPO_ROOT,
            env=environment,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        process.wait(timeout=120)
        stdout, stderr = out_path.read_text(), err_path.read_text()
        assert process.returncode == 0, f"the snippet failed:\n{stdout}\n{stderr}"
        assert "Verify access" in stdout
        assert re.search(r"^Connection first-connection-[a-z0-9]+: ACTIVE$", stdout, re.MULTILINE), stdout
        assert re.search(
            r"^first-connection-[a-z0-9]+ +ACTIVE +import +my-bucket/images/", stdout, re.MULTILINE
        )
        assert "Traceback" not in stderr
    finally:
        # The detached stack leads a session of its own: stop it by its pid only, if the snippet did not.
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        pid = pid_file.read_text().strip() if pid_file.exists() else ""
        if pid.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
