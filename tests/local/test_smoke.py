"""provisioner-smoke against the embedded local stack: a whole run passes and leaves nothing behind, also
when it is interrupted."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from provisioner_local.emulator import LocalStack
from provisioner_ops import smoke, smoke_checks

pytestmark = pytest.mark.flow
ROOT = Path(__file__).resolve().parents[2]
CUSTOMER_RULE = {
    "ID": "customer-upload",
    "AllowedOrigins": ["https://app.acme.example"],
    "AllowedMethods": ["PUT"],
}


@pytest.fixture(scope="module")
def stack():
    with LocalStack(port=0, labellerr=True) as local:
        yield local


@pytest.fixture
def credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "smoke-test", "AWS_SECRET_ACCESS_KEY": "smoke-test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def bucket(stack):
    name = f"acme-{uuid.uuid4().hex[:10]}"
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="images/cat.png", Body=b"png")
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    return name


def smoke_connections(stack) -> dict[str, str]:
    """Every connection the smoke check registered, with its status."""
    items = stack.client("dynamodb").scan(TableName=stack.tables["ConnectionsTable"])["Items"]
    return {
        i["connection_id"]["S"]: i["status"]["S"]
        for i in items
        if i["connection_id"]["S"].startswith("smoke-")
    }


def leftovers(stack, bucket: str) -> list[str]:
    """Anything of a smoke connection in the account: users, policies, live secrets, CORS rules, objects."""
    iam, secrets, s3 = stack.client("iam"), stack.client("secretsmanager"), stack.client("s3")
    found = [u["UserName"] for u in iam.list_users()["Users"] if "smoke-" in u["UserName"]]
    found += [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if "smoke-" in p["PolicyName"]]
    found += [
        s["Name"] for s in secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]
        if "smoke-" in s["Name"] and not s.get("DeletedDate")
    ]  # fmt: skip
    found += [rule_id for rule_id in smoke_checks.rule_ids(s3, bucket) if "smoke-" in rule_id]
    found += [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if o["Key"] != "images/cat.png"
    ]
    return found


def args(stack, bucket: str) -> list[str]:
    return [
        "--api-url",
        stack.api_url,
        "--endpoint-url",
        stack.endpoint_url,
        "--bucket",
        bucket,
        "--timeout",
        "60",
    ]


def test_a_smoke_run_passes_every_check_and_leaves_nothing(stack, credentials, bucket):
    before = smoke_connections(stack)
    out = io.StringIO()
    code = smoke.main(args(stack, bucket), out=out)
    text = out.getvalue()
    assert code == 0, text
    for step in ("start onboarding", "onboarding finished", "IAM user and policy", "secret exists",
                 "issued key lists prefix", "CORS rule", "CORS preflight", "lifecycle event", "offboarding",
                 "user gone", "policy gone", "secret gone", "CORS rule gone", "lifecycle event (delete)"):  # fmt: skip
        assert any(line.startswith(f"PASS  {step} ") for line in text.splitlines()), (step, text)
    assert "Smoke check all checks passed" in text
    [new] = set(smoke_connections(stack)) - set(before)
    assert smoke_connections(stack)[new] == "DELETED"
    assert leftovers(stack, bucket) == []
    # The customer's own rule was never ours to touch.
    assert smoke_checks.rule_ids(stack.client("s3"), bucket) == ["customer-upload"]
    # The secret access key is never printed; only the secret's ARN.
    assert "secret_access_key" not in text
    assert ":secret:labellerr/connections/smoke-" in text


def test_with_labellerr_the_hand_off_is_checked_and_undone(stack, credentials, bucket):
    out = io.StringIO()
    code = smoke.main([*args(stack, bucket), "--with-labellerr"], out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "PASS  Labellerr hand-off" in text
    assert stack.labellerr is not None
    assert [c for c in stack.labellerr.connections() if "smoke-" in c.description] == []
    assert leftovers(stack, bucket) == []


def test_a_failed_onboarding_fails_the_run_and_still_leaves_nothing(stack, credentials, bucket):
    stack.set_faults(["iam:CreateAccessKey"])
    try:
        out = io.StringIO()
        code = smoke.main(args(stack, bucket), out=out)
    finally:
        stack.set_faults([])
    text = out.getvalue()
    assert code == 1
    assert "FAIL  onboarding finished" in text
    assert "the registry record is FAILED" in text
    assert leftovers(stack, bucket) == []


def test_a_sigterm_mid_run_offboards_before_exiting(stack, credentials, bucket, monkeypatch):
    def interrupted(*_args, **_kwargs):
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("the handler should have stopped the run")

    monkeypatch.setattr(smoke_checks, "key_lists_prefix", interrupted)
    before = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    code = smoke.main(args(stack, bucket), out=out)
    text = out.getvalue()
    assert code == 1
    assert "Interrupted (SIGTERM)" in text
    assert "PASS  offboarding" in text
    assert leftovers(stack, bucket) == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_of_a_running_process_offboards_its_connection(stack, bucket):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "AWS_ACCESS_KEY_ID": "smoke-test", "AWS_SECRET_ACCESS_KEY": "smoke-test", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    before = set(smoke_connections(stack))
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our module, loopback URLs
        [sys.executable, "-m", "provisioner_ops.smoke", *args(stack, bucket)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("PASS  start onboarding"):
            break
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=120)
    text = "".join(lines) + rest
    assert process.returncode == 1, (text, err)
    assert "Interrupted (SIGINT)" in text
    assert "PASS  offboarding" in text
    assert "Traceback" not in err
    [new] = set(smoke_connections(stack)) - before
    deadline = time.monotonic() + 10
    while smoke_connections(stack)[new] != "DELETED" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert smoke_connections(stack)[new] == "DELETED"
    assert leftovers(stack, bucket) == []


def test_without_credentials_it_says_so(monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = smoke.main(["--api-url", "http://127.0.0.1:9", "--bucket", "b"])
    assert code == 1
    assert "no AWS credentials" in capsys.readouterr().err


def test_provisioner_smoke_runs_the_same_check_with_the_clients_global_options(stack, credentials, bucket):
    """`provisioner --api-url URL smoke BUCKET ...`: one tool for the person who runs the stack."""
    from provisioner_cli.cli import main as provisioner

    out, err = io.StringIO(), io.StringIO()
    code = provisioner(
        [
            "--api-url",
            stack.api_url,
            "smoke",
            bucket,
            "--endpoint-url",
            stack.endpoint_url,
            "--timeout",
            "60",
        ],
        out=out,
        err=err,
    )
    assert code == 0, out.getvalue() + err.getvalue()
    assert "Smoke check all checks passed" in out.getvalue()
    assert leftovers(stack, bucket) == []


def test_provisioner_preflight_runs_the_deploy_check(monkeypatch):
    from provisioner_cli.cli import main as provisioner

    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    code = provisioner(["--region", "us-east-1", "preflight", "--offline"], out=out, err=err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert "us-east-1" in out.getvalue()
