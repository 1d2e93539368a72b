"""`provisioner`, the deployed stack's client, against the local stack's HTTP API: every command, with the
exit codes it promises, called in-process (`main(argv)`) with this checkout's code.

One stack for the module. Its rotation checks once a second, with an adoption period of 9 checks and a
grace period of 5; the rotation test turns the stack's fast waits off while it runs, so those waits are
real and it can confirm or roll back inside a stage, and every other test keeps Retry waits short. The
client finds the stack as a shell would after `eval "$(provisioner-local serve --env)"`: PROVISIONER_API_URL,
AWS_ENDPOINT_URL and made-up credentials in the environment.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from provisioner_cli.cli import main
from provisioner_local.emulator import LocalStack

pytestmark = pytest.mark.flow

ADOPTION_CHECKS = 9
GRACE_CHECKS = 5
PARAMETERS = {
    "KeyRotationCheckSeconds": "1",
    "KeyRotationAdoptionDays": str(ADOPTION_CHECKS / 86400 - 1e-9),
    "KeyRotationGraceDays": str(GRACE_CHECKS / 86400 - 1e-9),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, labellerr=True, parameter_overrides=PARAMETERS) as local:
        yield local


@pytest.fixture
def real_waits(stack: LocalStack) -> Iterator[None]:
    """Wait states as long as the template says (read by the stack at each wait)."""
    stack.fast_waits = False
    yield
    stack.fast_waits = True


@pytest.fixture(autouse=True)
def stack_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `provisioner-local serve --env` exports, and nothing of the machine's own AWS setup."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PROVISIONER_STACK", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack.region)
    monkeypatch.setenv("PROVISIONER_API_URL", stack.api_url)


@pytest.fixture
def faults(stack: LocalStack) -> Iterator[Any]:
    yield stack.set_faults
    stack.set_faults([])


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def bucket_with_images(stack: LocalStack) -> str:
    bucket = f"acme-{uuid.uuid4().hex[:12]}"
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="images/cat.png", Body=b"\x89PNG cat")
    return bucket


def record(connection_id: str) -> dict[str, Any]:
    code, out, err = run("status", connection_id, "--json")
    assert code == 0, out + err
    return json.loads(out)


def until(connection_id: str, check: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not check(current := record(connection_id)):
        assert time.monotonic() < deadline, f"{connection_id} never {what}: {current.get('status')}"
        time.sleep(0.1)
    return current


@pytest.fixture
def active(stack: LocalStack) -> str:
    """A fresh ACTIVE connection, made with `provisioner connect --wait`."""
    bucket = bucket_with_images(stack)
    code, out, err = run("connect", f"{bucket}/images/", "--access", "import_export", "--wait")
    assert code == 0, out + err
    return out.split()[1].rstrip(":")


def test_connect_with_wait_shows_each_state_then_the_active_record(stack):
    bucket = bucket_with_images(stack)
    code, out, err = run("connect", f"s3://{bucket}/images/", "--name", "Cats", "--wait")
    assert code == 0, out + err
    assert err == ""
    for state in ("Validate request", "Issue access key", "Verify access", "Register in Labellerr"):
        assert any(line.strip().startswith(state) and "succeeded" in line for line in out.splitlines()), state
    connection_id = out.split()[1].rstrip(":")
    assert f"Connection {connection_id}: ACTIVE" in out.splitlines()[-20:]
    assert record(connection_id)["status"] == "ACTIVE"
    assert record(connection_id)["connection_name"] == "Cats"


def test_connect_without_wait_answers_at_once_and_the_run_goes_on(stack):
    bucket = bucket_with_images(stack)
    key = str(uuid.uuid4())
    code, out, _ = run(
        "connect", bucket, "--no-wait", "--no-labellerr", "--no-cors", "--idempotency-key", key
    )
    assert code == 0, out
    assert ": PROVISIONING" in out
    assert "provisioner status" in out
    assert "Verify access" not in out
    connection_id = out.split()[1].rstrip(":")
    # The same key and body: the same answer, nothing new started.
    again_code, again, _ = run(
        "connect", bucket, "--no-wait", "--no-labellerr", "--no-cors", "--idempotency-key", key
    )
    assert again_code == 0
    assert connection_id in again
    assert "replayed" in again
    done = until(connection_id, lambda r: r["status"] == "ACTIVE", "became ACTIVE")
    assert done["apply_cors"] is False
    assert done["register_in_labellerr"] is False


def test_wait_is_off_when_stdout_is_not_a_terminal(stack):
    bucket = bucket_with_images(stack)
    code, out, _ = run("connect", bucket)
    assert code == 0
    assert "PROVISIONING" in out
    assert "Verify access" not in out
    until(out.split()[1].rstrip(":"), lambda r: r["status"] == "ACTIVE", "became ACTIVE")


def test_an_invalid_request_exits_2_naming_each_field(stack):
    code, out, err = run("connect", "My_Bucket/../etc/", "--name", "Bad/name")
    assert code == 2, out + err
    assert "400" in out
    assert "  bucket: " in out
    assert "  connection_name: " in out
    code, out, _ = run("plan", "My_Bucket")
    assert code == 2
    assert "  bucket: " in out


def test_a_failed_run_exits_1_after_its_rollback(stack, faults):
    bucket = bucket_with_images(stack)
    faults(["iam:CreateAccessKey"])
    code, out, _ = run("connect", bucket, "--wait")
    assert code == 1, out
    assert "Issue access key" in out
    assert "failed" in out
    assert ": FAILED" in out
    assert "rolled back" in out


def test_plan_prints_for_a_person_or_raw_json(stack):
    bucket = bucket_with_images(stack)
    code, out, _ = run("plan", f"{bucket}/images/", "--access", "import_export")
    assert code == 0, out
    assert "would succeed" in out
    assert "Checks:" in out
    assert "Nothing was created or changed." in out
    code, out, _ = run("plan", f"{bucket}/images/", "--json")
    assert code == 0
    assert json.loads(out)["would_succeed"] is True
    code, out, _ = run("plan", f"acme-missing-{uuid.uuid4().hex[:8]}")
    assert code == 1
    assert "would FAIL" in out
    assert "bucket_exists" in out


def test_status_and_list(stack, active):
    code, out, _ = run("status", active)
    assert code == 0
    assert out.startswith(f"Connection {active}: ACTIVE")
    assert "key:" in out
    bucket = record(active)["bucket"]
    code, out, _ = run("list", "--bucket", bucket)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["CONNECTION", "STATUS", "ACCESS", "S3", "UPDATED", "HEALTH"]
    assert [line.split()[:3] for line in lines[1:]] == [[active, "ACTIVE", "import_export"]]
    code, out, _ = run("list", "--status", "ACTIVE", "--json")
    assert code == 0
    assert active in {each["connection_id"] for each in json.loads(out)["connections"]}
    code, out, _ = run("list", "--bucket", f"acme-none-{uuid.uuid4().hex[:8]}")
    assert code == 0
    assert out.strip() == "No connections."
    code, out, _ = run("status", "no-such-connection")
    assert code == 1
    assert "404" in out
    assert "connection_id" in out


def _rotate_in_background(connection_id: str) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def rotate() -> None:
        result["code"], result["out"], result["err"] = run("rotate", connection_id, "--wait")

    thread = threading.Thread(target=rotate, daemon=True)
    thread.start()
    return thread, result


def _stage(connection_id: str, stage: str) -> dict[str, Any]:
    return until(connection_id, lambda r: (r.get("rotation") or {}).get("stage") == stage, f"reached {stage}")


def test_rotate_confirm_and_rollback(stack, active, real_waits):
    # Two connections rotate at once: one is confirmed and retires its old key, the other is rolled back.
    bucket = bucket_with_images(stack)
    code, out, _ = run("connect", f"{bucket}/images/", "--wait")
    assert code == 0, out
    other = out.split()[1].rstrip(":")
    code, _, err = run("rotate", active, "--confirm")
    assert code == 1
    assert f"connection {active} has no rotation to confirm" in err
    rotated, rotated_result = _rotate_in_background(active)
    rolled, rolled_result = _rotate_in_background(other)

    _stage(active, "PROMOTED")
    code, out, _ = run("rotate", active, "--confirm")
    assert code == 0, out
    assert "confirmed" in out
    _stage(other, "PROMOTED")
    assert run("rotate", other, "--confirm")[0] == 0
    _stage(other, "OLD_KEY_INACTIVE")
    code, out, _ = run("rotate", other, "--rollback")
    assert code == 0, out
    assert "rollback requested" in out

    rotated.join(60)
    rolled.join(60)
    assert rotated_result["code"] == 0, rotated_result
    assert "Check key adoption" in rotated_result["out"]
    assert "rotation:" in rotated_result["out"]
    assert "ROTATED" in rotated_result["out"]
    assert rolled_result["code"] == 1, rolled_result
    assert "ROLLED_BACK" in rolled_result["out"]
    assert record(other)["status"] == "ACTIVE"
    code, out, _ = run("rotate", other, "--rollback")
    assert code == 1
    assert "has ended (ROLLED_BACK)" in out


def test_rotate_refuses_a_connection_that_is_not_active(stack):
    code, out, _ = run("rotate", "no-such-connection")
    assert code == 1
    assert "404" in out


def test_disconnect_waits_for_deleted(stack, active):
    code, out, err = run("disconnect", active, "--wait")
    assert code == 0, out + err
    assert "Remove connection" in out
    assert f"Connection {active}: DELETED" in out
    code, out, _ = run("disconnect", active)
    assert code == 0
    assert f"Connection {active}: DELETED" in out


def test_disconnect_that_cannot_finish_exits_1_naming_what_is_left(stack, faults, active):
    faults(["iam:DeleteUser@RemoveConnection"])
    code, out, _ = run("disconnect", active, "--wait")
    assert code == 1, out
    assert ": ROLLBACK_FAILED" in out
    assert "still there:" in out
    assert f"provisioner disconnect {active}" in out
    faults([])
    code, out, _ = run("disconnect", active, "--wait")
    assert code == 0, out


def test_a_stopped_stack_is_one_clear_line(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    code, out, err = run("--api-url", url, "list")
    assert code == 3
    assert out == ""
    assert err.startswith(f"provisioner: no answer from {url}/connections")
    assert "local stack running" in err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_a_stack_that_does_not_exist_is_named(monkeypatch):
    monkeypatch.delenv("PROVISIONER_API_URL")
    code, _, err = run("--stack-name", "no-such-stack", "status", "x")
    assert code == 3
    assert "stack 'no-such-stack' not found" in err
    assert len(err.splitlines()) == 1


def test_the_stack_is_found_by_name_from_its_outputs_or_samconfig(stack, active, monkeypatch, tmp_path):
    """--stack-name, PROVISIONER_STACK and samconfig.toml's stack_name each lead to the stack's ApiUrl."""
    monkeypatch.delenv("PROVISIONER_API_URL")
    name = f"cli-{uuid.uuid4().hex[:8]}"
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ApiUrl": {"Value": stack.api_url}},
    }
    stack.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    code, out, err = run("--stack-name", name, "status", active)
    assert code == 0, err
    assert out.startswith(f"Connection {active}: ACTIVE")
    monkeypatch.setenv("PROVISIONER_STACK", name)
    assert run("status", active)[0] == 0
    monkeypatch.delenv("PROVISIONER_STACK")
    (tmp_path / "samconfig.toml").write_text(
        f'version = 0.1\n[default.global.parameters]\nstack_name = "{name}"\n'
    )
    monkeypatch.chdir(tmp_path)
    assert run("status", active)[0] == 0
    (tmp_path / "samconfig.toml").unlink()
    code, _, err = run("status", active)
    assert code == 3
    assert "which stack?" in err


def test_no_credentials_is_said_in_words(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run("list")
    assert code == 3
    assert "no AWS credentials found" in err
    assert len(err.splitlines()) == 1
