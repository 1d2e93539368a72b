"""What AWS does later rather than at once, met by the real flow: a versioned bucket's history, bucket
configuration read right after it is written, a secret's name taken while its deletion finishes."""

from __future__ import annotations

import importlib
import json
from typing import Any

import boto3
import pytest
from botocore.compat import HTTPHeaders

from provisioner_core.connection import probe_key_for
from provisioner_core.key_access import CORS_SETTLE_RETRIES
from provisioner_local.emulator import LocalStack
from provisioner_local.iam_propagation import FixedDelay
from provisioner_local.secret_deletion import SecretDeletionLag
from tests.support.executions import offboard, run_flow, unique_id
from tests.support.residue import cors_rules, leftovers, settled

pytestmark = pytest.mark.flow


def _versions_of(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [e for e in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if e["Key"] == key]


def test_in_a_versioned_bucket_verification_and_offboarding_leave_no_version_of_the_probe(
    stack, sfn, s3, iam, secrets, bucket
):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    connection_id = unique_id("versioned")
    request = {
        "connection_name": "Versioned",
        "connection_id": connection_id,
        "bucket": bucket,
        "prefix": "exports/",
        "access": "import_export",
        "register_in_labellerr": False,
    }
    run = run_flow(stack, sfn, request)
    assert run.status == "SUCCEEDED", run.cause
    outcomes = {c["operation"]: c["outcome"] for c in run.output["verification"]["checks"]}
    assert outcomes["s3:DeleteObjectVersion"] == "passed"
    probe = probe_key_for("exports/", connection_id)
    assert _versions_of(s3, bucket, probe) == []

    assert offboard(stack, sfn, connection_id).status == "SUCCEEDED"
    # Offboarding deletes the probe by its name too: no delete marker for a probe that was already gone.
    assert _versions_of(s3, bucket, probe) == []
    assert leftovers(iam, secrets, connection_id) == []


def _request(bucket: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "connection_name": "Eventual",
        "connection_id": connection_id,
        "bucket": bucket,
        "prefix": "images/",
        "register_in_labellerr": False,
        **extra,
    }


def _retried_with(run: Any, error: str) -> int:
    return sum(
        1
        for e in run.history
        if e["type"] == "LambdaFunctionFailed" and e["lambdaFunctionFailedEventDetails"].get("error") == error
    )


def test_a_cors_rule_that_shows_seconds_after_it_is_written_is_waited_for_not_rolled_back(
    stack, sfn, s3, bucket
):
    started = LocalStack.clock.now()
    run = run_flow(stack, sfn, _request(bucket, unique_id("lagging")))
    assert run.status == "SUCCEEDED", run.cause
    # The fixture's 2 s lag was met (Apply CORS's write), and waited out on the emulated clock (real time plus
    # the waits skipped; on a loaded machine more of it is real): Apply CORS waits for its write under the
    # bucket's lease, so Verify access reads the rule at once.
    assert [delay for name, delay in stack.bucket_config.writes if name == bucket] == [2.0]
    assert LocalStack.clock.now() - started >= 2 - 0.1
    assert _retried_with(run, "CorsNotYetVisible") == 0
    assert run.output["verification"]["verified"] is True
    rule_id = run.output["cors"]["rule_id"]
    assert rule_id in [r["ID"] for r in cors_rules(s3, bucket) or []]


class _cors_writes_lost:  # noqa: N801 - a context manager used like a function
    """The functions' PutBucketCors answers success and changes nothing: the rule never shows, as when a
    customer's own write replaces the configuration right after ours."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    @staticmethod
    def _lost(**_: Any) -> Any:
        """A before-call handler's answer is used instead of sending the request."""
        from botocore.awsrequest import AWSResponse

        return AWSResponse("", 200, HTTPHeaders(), None), {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def _hook(self, session: boto3.session.Session) -> None:
        session.events.register("before-call.s3.PutBucketCors", self._lost)

    def __enter__(self) -> None:
        _functions_aws().SESSION_HOOKS.append(self._hook)
        _functions_aws().reset_clients()

    def __exit__(self, *exc: object) -> None:
        _functions_aws().SESSION_HOOKS.remove(self._hook)
        _functions_aws().reset_clients()


def test_a_cors_rule_that_never_shows_fails_verification_after_a_bounded_wait_and_rolls_back(
    stack, sfn, s3, iam, secrets, bucket
):
    connection_id = unique_id("neverseen")
    with _cors_writes_lost(stack):
        before = LocalStack.clock.skipped
        run = run_flow(stack, sfn, _request(bucket, connection_id), deadline_s=120)
        waited = LocalStack.clock.skipped - before
    assert run.status == "FAILED"
    assert run.error == "VerifyAccess.VerificationFailed"
    assert f"still after {CORS_SETTLE_RETRIES} retries" in run.cause_json["message"]
    assert _retried_with(run, "CorsNotYetVisible") == CORS_SETTLE_RETRIES
    # Bounded: about a minute of the 2 s retries, not the run's 15 minutes.
    assert 2 * CORS_SETTLE_RETRIES - 1 <= waited <= 2 * CORS_SETTLE_RETRIES + 30
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) is None


def test_onboarding_an_id_right_after_its_offboarding_ends_active_with_one_secret_of_the_new_key(
    stack, sfn, s3, iam, secrets, bucket
):
    connection_id = unique_id("again")
    first = run_flow(stack, sfn, _request(bucket, connection_id))
    assert first.status == "SUCCEEDED", first.cause
    # Longer than the steps between the deletion and the new CreateSecret wait on the emulated clock (the
    # CORS writes' own waits), so the new run surely meets the old secret.
    lag, stack.secret_deletion = stack.secret_deletion, SecretDeletionLag(FixedDelay(20), LocalStack.clock)
    try:
        assert offboard(stack, sfn, connection_id).status == "SUCCEEDED"
        # At once: the old secret is still being deleted, and the bucket's CORS may still show the old rule.
        again = run_flow(stack, sfn, _request(bucket, connection_id), settle=False)
    finally:
        stack.secret_deletion = lag
    assert again.status == "SUCCEEDED", (again.error, again.cause)
    assert _retried_with(again, "SecretNameNotYetFree") >= 1
    secret_name = f"labellerr/connections/{connection_id}"
    settled()
    [secret] = [
        s for s in secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"] if s["Name"] == secret_name
    ]
    assert secret["ARN"] == again.output["secret_arn"] != first.output["secret_arn"]
    assert "DeletedDate" not in secret
    held = json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"])["access_key_id"]
    assert held == again.output["access_key_id"] != first.output["access_key_id"]
    keys = iam.list_access_keys(UserName=f"labellerr-{connection_id}")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [held]
    # The rule the offboarding removed is back, as S3 shows it once it has caught up.
    assert again.output["cors"]["rule_id"] in [r["ID"] for r in cors_rules(s3, bucket) or []]


def _functions_aws() -> Any:
    """provisioner_core.aws as the running stack's functions import it (the stack put its layer on the path)."""
    return importlib.import_module("provisioner_core.aws")
