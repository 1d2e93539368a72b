"""provisioner-local as a user runs it: `serve` in a subprocess, `onboard` end to end, and the trace."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shlex
import signal
import struct
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from provisioner_cli.trace import ExecutionTrace
from provisioner_core.labellerr import LabellerrClient, LabellerrCredentials
from provisioner_local.cli import build_parser, main
from provisioner_local.cli_demo import tiny_png
from tests.support.local_cli import FIXTURE_TEMPLATE, REPO_ROOT, cli_command, needs_project

FRONT_DOORS = Path(__file__).parent / "fixtures" / "front_doors.yaml"
ONBOARD_API = Path(__file__).parent / "fixtures" / "onboard_api.yaml"
READY_KEYS = {
    "aws_endpoint", "region", "state_machine_arn", "state_machines", "api_url", "event_bus_name", "labellerr",
}  # fmt: skip


def _read_line(stream, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no line on stdout within {timeout} s")


# --- serve


@pytest.mark.parametrize(
    "template",
    [pytest.param(FRONT_DOORS, id="fixture"), pytest.param(None, id="project", marks=needs_project)],
)
def test_serve_prints_one_json_line_serves_and_stops_on_sigterm(template):
    extra = [] if template is None else ["--template", str(template)]
    process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        cli_command("serve", "--port", "0", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        ready = json.loads(_read_line(process.stdout, timeout=30))
        assert set(ready) == READY_KEYS
        assert ready["aws_endpoint"].startswith("http://127.0.0.1:")
        # The user's region (AWS_REGION, else AWS_DEFAULT_REGION), us-east-1 when neither is set.
        assert ready["region"] == (
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        assert ready["state_machine_arn"] in ready["state_machines"].values()
        assert ready["api_url"].startswith("http://127.0.0.1:")
        assert not ready["api_url"].endswith("/")
        assert ready["api_url"] != ready["aws_endpoint"]
        if template is None:
            assert ready["state_machine_arn"] == ready["state_machines"]["OnboardConnectionStateMachine"]
            # The stand-in answers a user's own client with Labellerr's headers and the printed values.
            labellerr = ready["labellerr"]
            credentials = LabellerrCredentials(
                labellerr["api_key"], labellerr["api_secret"], labellerr["client_id"]
            )
            assert LabellerrClient(credentials, labellerr["api_url"]).list_connections() == []
        else:
            # The fixture template has no hand-off to configure.
            assert ready["labellerr"] is None

        def client(service):
            return boto3.client(
                service,
                endpoint_url=ready["aws_endpoint"],
                region_name=ready["region"],
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        client("s3").create_bucket(Bucket="served-bucket")
        assert [bucket["Name"] for bucket in client("s3").list_buckets()["Buckets"]] == ["served-bucket"]
        machines = client("stepfunctions").list_state_machines()["stateMachines"]
        assert set(ready["state_machines"].values()) <= {machine["stateMachineArn"] for machine in machines}
        buses = client("events").list_event_buses()["EventBuses"]
        assert ready["event_bus_name"] in {bus["Name"] for bus in buses}
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(ready["api_url"] + "/no/such/route", timeout=10)  # noqa: S310 - loopback
        assert raised.value.code == 404
        body = json.loads(raised.value.read())
        # API Gateway's own 404, or the project's $default route answering with its documented error body.
        assert body == {"message": "Not Found"} or body["errors"][0]["field"] == "path"
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 0, stderr
    assert stdout == "", "stdout must carry exactly the one JSON line"


def test_serve_env_hands_its_values_to_a_shell_that_then_uses_them():
    process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        cli_command("serve", "--port", "0", "--env", "--template", str(FRONT_DOORS)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        exports = [_read_line(process.stdout, timeout=30) for _ in range(8)]
        assert all(line.startswith("export ") for line in exports), exports
        # What a user does with them: source them, and use the stack without copying a port by hand.
        probe = "import os, boto3; print(boto3.client('s3').list_buckets()['ResponseMetadata']['HTTPStatusCode'], os.environ['API_URL'])"
        script = "".join(exports) + f"{shlex.quote(sys.executable)} -c {shlex.quote(probe)}"
        done = subprocess.run(  # noqa: S603 - a fixed script of our own
            ["bash", "-c", script], capture_output=True, text=True, timeout=60,  # noqa: S607
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )  # fmt: skip
        status, api_url = done.stdout.split()
        assert status == "200", done.stderr
        assert api_url.startswith("http://127.0.0.1:")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_version_is_printed():
    done = subprocess.run(cli_command("--version"), capture_output=True, text=True, timeout=60)  # noqa: S603
    assert done.stdout.startswith("provisioner-local ")


def test_serve_reports_a_bad_fault_on_stderr():
    result = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        cli_command("serve", "--port", "0", "--template", str(FIXTURE_TEMPLATE), "--fault", "iam:NoSuchCall"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "iam has no operation 'NoSuchCall'" in result.stderr


def test_parameter_overrides_parse_as_pairs():
    args = build_parser().parse_args(
        ["serve", "--parameter-overrides", "A=1", "B=x=y", "--parameter-overrides", "C="]
    )

    assert args.parameter_overrides == [("A", "1"), ("B", "x=y"), ("C", "")]


# --- onboard (the real template and functions)


def _onboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        cli_command("onboard", *args), capture_output=True, text=True, timeout=90, check=False, cwd=REPO_ROOT
    )


@pytest.mark.flow
@needs_project
def test_onboard_demo_succeeds_and_never_prints_the_secret():
    result = _onboard()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo bucket labellerr-demo-" in result.stdout
    assert "Verify access" in result.stdout
    assert "Onboarding succeeded" in result.stdout
    assert "secretsmanager get-secret-value --secret-id" in result.stdout
    assert "SecretAccessKey" not in result.stdout
    assert "secret_access_key" not in result.stdout
    # The functions' own output (Powertools' EMF metrics, their logs) is for -v, not the trace.
    assert "CloudWatchMetrics" not in result.stdout + result.stderr


@pytest.mark.flow
@needs_project
def test_onboard_with_a_fault_fails_and_explains_the_rollback():
    result = _onboard("--fault", "iam:CreateAccessKey", "--bucket", "customer-bucket", "--prefix", "data/")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "did not exist in the fresh local emulator" in result.stdout
    assert "Issue access key" in result.stdout
    assert "InjectedFault" in result.stdout
    assert "Cause:" in result.stdout


# --- onboard through the HTTP API (a fixture API with the project's contract)


def _onboard_in_process(capsys, *args: str) -> tuple[int, str]:
    code = main(["onboard", "--template", str(ONBOARD_API), *args])
    return code, capsys.readouterr().out


def test_onboard_posts_traces_and_prints_the_active_record(capsys):
    code, out = _onboard_in_process(capsys)

    assert code == 0, out
    assert "POST http://127.0.0.1:" in out
    assert "202 PROVISIONING: connection demo-images-" in out
    assert "Record outcome" in out
    assert "Onboarding succeeded. Registry record:" in out
    record = json.loads(out.split("Registry record:\n", 1)[1].split("\n}\n", 1)[0] + "\n}")
    assert record["status"] == "ACTIVE"
    assert record["connection_id"].startswith("demo-images-")
    assert "secretsmanager get-secret-value --secret-id" in out


def test_onboard_failure_prints_the_record_and_the_executions_error(capsys):
    code, out = _onboard_in_process(capsys, "--connection-name", "Doomed")

    assert code == 1, out
    assert "Onboarding FAILED; registry status FAILED" in out
    assert "Execution FAILED: DoomedConnection" in out
    assert "was doomed from the start" in out
    assert "secretsmanager get-secret-value" not in out


def test_onboard_prints_the_apis_4xx_body(capsys):
    code, out = _onboard_in_process(capsys, "--connection-name", "Rejected")

    assert code == 1, out
    assert "The API answered 400:" in out
    assert "rejected by the fixture" in out
    assert "Execution" not in out


def test_onboard_needs_an_http_api(capsys):
    assert main(["onboard", "--template", str(FIXTURE_TEMPLATE)]) == 2
    assert "the template has none" in capsys.readouterr().err


# --- the trace


def _at(ms: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _event(event_id: int, kind: str, ms: int, **details) -> dict:
    event = {"id": event_id, "type": kind, "timestamp": _at(ms)}
    if details:
        key = {
            "TaskStateEntered": "stateEnteredEventDetails",
            "PassStateEntered": "stateEnteredEventDetails",
            "FailStateEntered": "stateEnteredEventDetails",
            "TaskStateExited": "stateExitedEventDetails",
            "PassStateExited": "stateExitedEventDetails",
        }.get(kind, "taskFailedEventDetails")
        event[key] = details
    return event


def test_trace_prints_one_line_per_state_with_outcome_and_duration():
    out = io.StringIO()
    trace = ExecutionTrace(out)
    events = [
        _event(1, "ExecutionStarted", 0),
        _event(2, "TaskStateEntered", 0, name="Create user"),
        _event(3, "TaskScheduled", 1),
        _event(4, "TaskFailed", 5, error="Throttled", cause="secret stays out"),
        _event(5, "TaskScheduled", 10),
        _event(6, "TaskSucceeded", 20),
        _event(7, "TaskStateExited", 25, name="Create user", output='{"secret": "x"}'),
        _event(8, "TaskStateEntered", 25, name="Issue access key"),
        _event(9, "TaskScheduled", 26),
        _event(10, "TaskFailed", 30, error="AwsCallFailed"),
        _event(11, "TaskStateExited", 31, name="Issue access key"),
        _event(12, "TaskStateEntered", 31, name="Rollback"),
        _event(13, "TaskScheduled", 32),
        _event(14, "TaskFailed", 40, error="Boom"),
        _event(15, "ExecutionFailed", 41, error="Boom"),
    ]

    trace.feed(events[:7])
    trace.feed(events)  # already seen events are skipped

    lines = [line.split() for line in out.getvalue().splitlines()]
    assert [" ".join(line) for line in lines] == [
        "Create user succeeded, retried 1x (Throttled) 25 ms",
        # Named as Rollback names the run's error, <Step>.<error>; a long outcome wraps in its column.
        "Issue access key failed: IssueAccessKey.AwsCallFailed 6 ms",
        "(caught)",
        "Rollback failed: Boom 10 ms",
    ]
    assert "secret" not in out.getvalue()


def test_trace_marks_a_fail_state():
    out = io.StringIO()
    ExecutionTrace(out).feed(
        [
            _event(1, "FailStateEntered", 7, name="Onboarding failed"),
            _event(2, "ExecutionFailed", 7, error="X"),
        ]
    )

    assert out.getvalue().split() == ["Onboarding", "failed", "failed", "(Fail", "state)", "0", "ms"]


# --- demo data


def test_tiny_png_is_a_valid_png():
    data = tiny_png((1, 2, 3), size=4)

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (4, 4, 8, 2)
    idat_length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    assert zlib.decompress(data[41 : 41 + idat_length]) == (b"\x00" + bytes((1, 2, 3)) * 4) * 4
    assert data.endswith(b"IEND\xaeB`\x82")


# --- the hand-off to the Labellerr stand-in (the project's template)


def test_onboard_hands_the_key_to_the_labellerr_stand_in(capsys):
    code = main(["onboard", "--access", "import_export"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Labellerr stand-in on http://127.0.0.1:" in out
    assert re.search(r"\n  Register in Labellerr +succeeded", out)
    record = json.loads(out.split("Registry record:\n", 1)[1].split("\n}\n", 1)[0] + "\n}")
    assert [c["connection_type"] for c in record["labellerr"]["connections"]] == ["import", "export"]
    for labellerr_id in record["labellerr"]["labellerr_connection_ids"]:
        assert f"connection {labellerr_id}" in out.split("Registered in Labellerr", 1)[1]


def test_onboard_with_a_labellerr_fault_rolls_back(capsys):
    code = main(["onboard", "--fault", "labellerr:test"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "Execution FAILED: RegisterInLabellerr.LabellerrUnavailable" in out


def test_labellerr_faults_need_the_stand_in(capsys):
    assert main(["onboard", "--no-labellerr", "--fault", "labellerr:create"]) == 2
    assert "need the stand-in" in capsys.readouterr().err
    assert main(["onboard", "--fault", "labellerr:update"]) == 2
    assert "labellerr:OPERATION" in capsys.readouterr().err
