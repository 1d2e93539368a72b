"""`eval "$(provisioner-local serve --env --detach)"; provisioner connect ...` works in a shell, as the
README says; and once the stack is stopped, `provisioner` says so in one line.

Both commands run this checkout's code with the test's own interpreter (`python -m`), in bash, with none of
the machine's AWS_ or PROVISIONER_ variables.
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

pytestmark = pytest.mark.flow


def test_serve_env_detach_then_provisioner_in_the_same_shell(tmp_path):
    python_path = os.pathsep.join(str(REPO_ROOT / part) for part in ("src", "layers/provisioner_core"))
    python = shlex.quote(sys.executable)
    script = f"""set -euo pipefail
export PYTHONPATH={shlex.quote(python_path)}
provisioner_local() {{ {python} -m provisioner_local.cli "$@"; }}
provisioner() {{ {python} -m provisioner_cli "$@"; }}
eval "$(provisioner_local serve --port 0 --env --detach)"
echo "pid $PROVISIONER_LOCAL_PID"
{python} -c "import boto3; boto3.client('s3').create_bucket(Bucket='my-bucket')"
provisioner connect my-bucket/images/ --name Shell --wait
provisioner list
kill "$PROVISIONER_LOCAL_PID"
while kill -0 "$PROVISIONER_LOCAL_PID" 2>/dev/null; do sleep 0.1; done
provisioner list || echo "exit $?"
"""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PROVISIONER_"))
    }
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - bash running the lines above
            ["bash", "-c", script],  # noqa: S607
            cwd=tmp_path,
            env=environment,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    stdout = ""
    try:
        process.wait(timeout=120)
        stdout, stderr = out_path.read_text(), err_path.read_text()
        assert process.returncode == 0, f"{stdout}\n{stderr}"
        assert "Verify access" in stdout
        assert re.search(r"^Connection shell-[a-z0-9]+: ACTIVE$", stdout, re.MULTILINE), stdout
        assert re.search(r"^shell-[a-z0-9]+ +ACTIVE +import +my-bucket/images/", stdout, re.MULTILINE), stdout
        # The stopped stack: one line on stderr naming the URL, and exit 3.
        assert stdout.rstrip().endswith("exit 3")
        [stopped] = [line for line in stderr.splitlines() if line.startswith("provisioner:")]
        assert "no answer from http://127.0.0.1:" in stopped
        assert "is the local stack running?" in stopped
        assert "Traceback" not in stderr
    finally:
        # The detached stack leads a session of its own: stop it by its pid only, if the script did not.
        match = re.search(r"^pid (\d+)$", stdout or out_path.read_text(), re.MULTILINE)
        if match:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(match.group(1)), signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)
