"""Proof the roles' check can fail: a copy of the template with one action taken out of one function's role
makes the onboarding that needs it fail at that step, with AccessDenied, and roll back what it made."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner_local.emulator import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def without_action(function: str, action: str, directory: Path) -> Path:
    """template.yaml with `action` renamed to one that grants nothing, in `function`'s block only."""
    text = (ROOT / "template.yaml").read_text()
    start = text.index(f"\n  {function}:\n")
    end = re.compile(r"\n  [A-Z][A-Za-z0-9]*:\n").search(text, start + 1)
    stop = end.start() if end else len(text)
    block = text[start:stop]
    assert action in block, f"{action} is not in {function}'s block"
    mutated = text[:start] + block.replace(action, f"{action}RemovedByTest") + text[stop:]
    for name in ("functions", "layers", "statemachine"):
        (directory / name).symlink_to(ROOT / name)
    (directory / "template.yaml").write_text(mutated)
    return directory / "template.yaml"


@pytest.mark.parametrize(
    ("function", "action", "step"),
    [
        ("CreateUserFunction", "iam:CreateUser", "Create user"),
        ("AttachPolicyFunction", "iam:AttachUserPolicy", "Attach policy"),
        ("ApplyCorsFunction", "s3:PutBucketCORS", "Apply CORS"),
        ("IssueAccessKeyFunction", "secretsmanager:CreateSecret", "Issue access key"),
        ("VerifyAccessFunction", "secretsmanager:GetSecretValue", "Verify access"),
    ],
)
def test_a_role_without_an_action_its_step_needs_fails_that_step_and_rolls_back(
    tmp_path: Path, run_execution: Callable[..., dict[str, Any]], function: str, action: str, step: str
) -> None:
    template = without_action(function, action, tmp_path)
    with LocalStack(template_path=template, project_root=ROOT) as stack:
        s3 = stack.client("s3")
        bucket = f"acme-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="images/cat.png", Body=b"x")
        connection_id = f"mutated-{uuid.uuid4().hex[:6]}"
        request = {
            "connection_name": "Mutated",
            "connection_id": connection_id,
            "bucket": bucket,
            "prefix": "images/",
        }
        run = run_execution(
            stack.client("stepfunctions"),
            stack.state_machines["OnboardConnectionStateMachine"],
            request,
            timeout=60,
        )
        assert run["status"] == "FAILED"
        cause = json.loads(run["cause"])
        assert cause["failed_step"] == step
        assert "AccessDenied" in cause["error"] + cause.get("message", "")
        assert stack.roles is not None
        # A refusal is AwsCallRefused, which no retrier names: the step was tried once, not four times.
        refused_here = [
            r for r in stack.roles.refusals if r[0] == function and r[1].lower() == action.lower()
        ]
        assert len(refused_here) == 1, stack.roles.refusals
        # Rolled back: nothing of the connection is left.
        users = stack.client("iam").list_users(PathPrefix="/labellerr/")["Users"]
        assert not [user for user in users if connection_id in user["UserName"]]
        secrets = stack.client("secretsmanager").list_secrets()["SecretList"]
        assert not [secret for secret in secrets if connection_id in secret["Name"]]
        assert "CORSRules" not in json.dumps(_cors(s3, bucket))


def _cors(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        return dict(s3.get_bucket_cors(Bucket=bucket))
    except s3.exceptions.ClientError:
        return {}
