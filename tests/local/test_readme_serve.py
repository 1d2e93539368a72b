"""The local stack page's `serve` section runs as pasted: its bash blocks, in order, against a fresh stack.

The blocks are read from docs/local-stack.md (the README links to it) each run, so they cannot drift from
what works. Two substitutions only: `.venv/bin/provisioner-local` runs this checkout's code (the test's own
interpreter), and the env file the snippet writes goes to a temporary directory instead of /tmp, so
concurrent runs keep apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE = REPO_ROOT / "docs" / "local-stack.md"
SECTION = "## Serving the stack to other processes"
ENV_FILE = "/tmp/local-stack.env"  # noqa: S108 - the path the page's snippet uses, replaced below
# The connections the snippet asks for: through the HTTP API, EventBridge and Step Functions.
EXPECTED_CONNECTIONS = {"Local", "Ev", "Cli"}


def serve_section_blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(SECTION)
    following = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, start + len(SECTION))
    section = text[start : following.start() if following else len(text)]
    return re.findall(r"^```bash\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def test_the_section_has_the_snippet_this_test_runs():
    blocks = serve_section_blocks()
    assert blocks, f"no ```bash block under {SECTION!r}"
    assert "serve --port 0 --env" in blocks[0]
    assert ENV_FILE in blocks[0]


def _connections(api_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{api_url}/connections", timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())["connections"]


@pytest.mark.flow
@pytest.mark.parametrize("region", [None, "eu-west-3"], ids=["default-region", "eu-west-3"])
def test_the_serve_snippets_run_as_pasted_against_a_fresh_stack(tmp_path, region):
    env_file = tmp_path / "local-stack.env"
    python_path = f"{REPO_ROOT / 'src'}:{REPO_ROOT / 'layers' / 'provisioner_core'}"
    command = f"PYTHONPATH={shlex.quote(python_path)} {shlex.quote(sys.executable)} -m provisioner_local.cli"
    snippet = "\n".join(serve_section_blocks())
    snippet = snippet.replace(".venv/bin/provisioner-local", "provisioner_local_cli")
    snippet = snippet.replace(ENV_FILE, shlex.quote(str(env_file)))
    script = f'set -euo pipefail\nprovisioner_local_cli() {{ {command} "$@"; }}\n{snippet}\n'
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    # `make pytest` puts .venv-awscli/bin first; a user's own aws works too. Missing tools fail, never skip.
    environment["PATH"] = f"{REPO_ROOT / '.venv-awscli' / 'bin'}:{environment.get('PATH', '')}"
    missing = [tool for tool in ("aws", "curl") if shutil.which(tool, path=environment["PATH"]) is None]
    assert not missing, f"the page's snippets need {missing}: `make .venv-awscli/bin/aws`, and curl"
    if region is not None:
        environment.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    # Files, not pipes: the snippet's background serve keeps its stdout and stderr open after bash ends.
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - bash running the page's own lines
            ["bash", "-c", script],  # noqa: S607
            cwd=REPO_ROOT,
            env=environment,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        process.wait(timeout=120)
        stdout = out_path.read_text()
        assert process.returncode == 0, f"the snippet failed:\n{stdout}\n{err_path.read_text()}"
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines()
        )
        assert exports["AWS_DEFAULT_REGION"] == (region or "us-east-1")
        assert f":states:{region or 'us-east-1'}:" in exports["ONBOARD_ARN"]
        assert '"status":"PROVISIONING"' in stdout.replace(" ", "")
        assert '"FailedEntryCount": 0' in stdout
        assert "executionArn" in stdout
        # What each front door started ends ACTIVE: the snippet did what the page says.
        deadline = time.monotonic() + 60
        while True:
            records = _connections(exports["API_URL"])
            statuses = {r.get("connection_name"): r.get("status") for r in records}
            if set(statuses) >= EXPECTED_CONNECTIONS and all(
                statuses[name] in ("ACTIVE", "FAILED", "ROLLBACK_FAILED") for name in EXPECTED_CONNECTIONS
            ):
                break
            assert time.monotonic() < deadline, f"not all onboarded in time: {statuses}"
            time.sleep(0.5)
        assert {name: statuses[name] for name in EXPECTED_CONNECTIONS} == dict.fromkeys(
            EXPECTED_CONNECTIONS, "ACTIVE"
        )
        assert all(r.get("region") == (region or "us-east-1") for r in records)
    finally:
        # bash leads a session of its own: its background serve is in it. Stop them by that id only.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)
