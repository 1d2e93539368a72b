"""Real customer buckets through the real ASL: SSE-KMS, bucket policies, Requester Pays, other regions, and
IAM propagation modelled (issue 10, "Done when": one test per case)."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from provisioner_local.emulator import LocalStack
from tests.support.api import http
from tests.support.buckets import SAMPLE_KEYS
from tests.support.clients import key_client
from tests.support.executions import run_flow, unique_id
from tests.support.residue import cors_rules, leftovers

pytestmark = pytest.mark.flow

ACCOUNT = LocalStack.account_id


@pytest.fixture(scope="module")
def kms(stack: LocalStack) -> Any:
    return stack.client("kms")


def _bucket(s3: Any, *, region: str | None = None) -> str:
    name = f"acme-{uuid.uuid4().hex[:12]}"
    if region:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    else:
        s3.create_bucket(Bucket=name)
    return name


def _seed(s3: Any, bucket: str, **put: Any) -> None:
    for key in SAMPLE_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"\x89PNG\r\n\x1a\n" + key.encode(), **put)


def _kms_bucket(s3: Any, key_id: str) -> str:
    bucket = _bucket(s3)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}
            ]
        },
    )
    _seed(s3, bucket)
    return bucket


def _assert_nothing_left(iam: Any, secrets: Any, s3: Any, bucket: str, connection_id: str) -> None:
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) is None


def _request(bucket: str, connection_id: str, access: str = "import") -> dict[str, Any]:
    return {"connection_name": "Real bucket", "connection_id": connection_id, "s3_uri": f"{bucket}/images/",
            "access": access}  # fmt: skip


def _states_entered(run: Any) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in run.history if "stateEnteredEventDetails" in e]


@pytest.mark.parametrize("access", ["import", "import_export"])
def test_sse_kms_bucket_with_a_customer_key_reads_and_writes_and_needs_the_kms_statement(
    stack, sfn, s3, iam, secrets, kms, access
):
    key = kms.create_key(Description="acme datasets")["KeyMetadata"]
    bucket = _kms_bucket(s3, key["Arn"])
    connection_id = unique_id("kms")
    run = run_flow(stack, sfn, _request(bucket, connection_id, access))

    assert run.status == "SUCCEEDED", run.cause
    out = run.output
    assert out["encryption"]["type"] == "aws:kms"
    assert out["encryption"]["kms_key_arn"] == key["Arn"]
    assert out["encryption"]["customer_kms_key_arns"] == [key["Arn"]]
    document = iam.get_policy_version(
        PolicyArn=out["policy_arn"],
        VersionId=iam.get_policy(PolicyArn=out["policy_arn"])["Policy"]["DefaultVersionId"],
    )["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    [kms_statement] = [st for st in document["Statement"] if st["Sid"] == "UseBucketKmsKeysThroughS3"]
    expected = ["kms:Decrypt", "kms:GenerateDataKey"] if access == "import_export" else ["kms:Decrypt"]
    assert kms_statement["Action"] == expected
    assert kms_statement["Resource"] == [key["Arn"]]
    assert kms_statement["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}

    user_s3 = key_client(stack, secrets, out["secret_arn"])
    assert user_s3.get_object(Bucket=bucket, Key=SAMPLE_KEYS[0])["Body"].read().startswith(b"\x89PNG")
    if access == "import_export":
        user_s3.put_object(Bucket=bucket, Key="images/annotated.json", Body=b"{}")
        assert s3.head_object(Bucket=bucket, Key="images/annotated.json")["SSEKMSKeyId"] in (
            key["Arn"],
            key["KeyId"],
        )

    # A copy of the policy without the KMS statement, on the same user: the local stack refuses the read.
    without_kms = {**document, "Statement": [st for st in document["Statement"] if st is not kms_statement]}
    copy_name = f"{out['iam_user_name']}-nokms"
    copy_arn = iam.create_policy(PolicyName=copy_name, Path="/test/", PolicyDocument=json.dumps(without_kms))[
        "Policy"
    ]["Arn"]
    iam.detach_user_policy(UserName=out["iam_user_name"], PolicyArn=out["policy_arn"])
    iam.attach_user_policy(UserName=out["iam_user_name"], PolicyArn=copy_arn)
    try:
        with pytest.raises(user_s3.exceptions.ClientError) as refused:
            user_s3.get_object(Bucket=bucket, Key=SAMPLE_KEYS[0])
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert "kms:Decrypt" in refused.value.response["Error"]["Message"]
        assert user_s3.list_objects_v2(Bucket=bucket, Prefix="images/")["KeyCount"] >= 1
    finally:
        iam.detach_user_policy(UserName=out["iam_user_name"], PolicyArn=copy_arn)
        iam.attach_user_policy(UserName=out["iam_user_name"], PolicyArn=out["policy_arn"])
        iam.delete_policy(PolicyArn=copy_arn)


def test_an_alias_is_resolved_to_the_key_arn_it_names(stack, sfn, s3, kms):
    key = kms.create_key()["KeyMetadata"]
    alias = f"alias/acme-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    bucket = _kms_bucket(s3, alias)
    connection_id = unique_id("alias")
    run = run_flow(stack, sfn, _request(bucket, connection_id))
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["encryption"]["kms_key_arn"] == key["Arn"]
    assert run.output["encryption"]["customer_kms_key_arns"] == [key["Arn"]]
    # The registry record carries what Validate request found, as the output does.
    status, record = http(stack, "GET", f"/connections/{connection_id}")
    assert status == 200
    assert record["encryption"] == run.output["encryption"]
    assert (record["bucket_policy"], record["requester_pays"]) == ({"status": "none"}, "no")


def test_a_key_policy_that_forbids_iam_grants_fails_before_anything_is_created(
    stack, sfn, s3, iam, secrets, kms
):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyTheAdminRole", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
         "Action": "kms:*", "Resource": "*"}]}  # fmt: skip
    key = kms.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    bucket = _kms_bucket(s3, key["Arn"])
    connection_id = unique_id("keypolicy")
    run = run_flow(stack, sfn, _request(bucket, connection_id))

    assert run.status == "FAILED"
    assert run.error == "ValidateRequest.KmsKeyNotUsable"
    cause = run.cause_json
    assert key["Arn"] in cause["message"]
    assert f"arn:aws:iam::{ACCOUNT}:root" in cause["message"]
    assert "Create user" not in _states_entered(run)
    _assert_nothing_left(iam, secrets, s3, bucket, connection_id)


def test_the_aws_managed_s3_key_adds_nothing(stack, sfn, s3, iam):
    bucket = _kms_bucket(s3, "alias/aws/s3")
    run = run_flow(stack, sfn, _request(bucket, unique_id("awss3")))
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["encryption"]["key_manager"] == "AWS"
    assert run.output["encryption"]["customer_kms_key_arns"] == []
    document = iam.get_policy_version(PolicyArn=run.output["policy_arn"], VersionId="v1")["PolicyVersion"][
        "Document"
    ]
    document = json.loads(document) if isinstance(document, str) else document
    assert not [st for st in document["Statement"] if any(a.startswith("kms:") for a in st["Action"])]


def test_requester_pays_fails_at_validation_naming_the_setting(stack, sfn, s3, iam, secrets):
    bucket = _bucket(s3)
    _seed(s3, bucket)
    s3.put_bucket_request_payment(Bucket=bucket, RequestPaymentConfiguration={"Payer": "Requester"})
    connection_id = unique_id("payer")
    run = run_flow(stack, sfn, _request(bucket, connection_id))

    assert run.status == "FAILED"
    assert run.error == "ValidateRequest.RequesterPaysBucket"
    assert "Requester Pays" in run.cause_json["message"]
    assert "Payer=BucketOwner" in run.cause_json["message"]
    _assert_nothing_left(iam, secrets, s3, bucket, connection_id)


def test_an_explicit_deny_bucket_policy_fails_at_validation_naming_it(stack, sfn, s3, iam, secrets):
    bucket = _bucket(s3)
    _seed(s3, bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_vpce_only(bucket)))
    connection_id = unique_id("deny")
    run = run_flow(stack, sfn, _request(bucket, connection_id))

    assert run.status == "FAILED"
    assert run.error == "ValidateRequest.BucketPolicyDenies"
    assert "bucket policy" in run.cause_json["message"]
    _assert_nothing_left(iam, secrets, s3, bucket, connection_id)


def _vpce_only(bucket: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyThroughOurVpce", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]}  # fmt: skip


@pytest.fixture
def propagating_stack(stack: LocalStack) -> Iterator[LocalStack]:
    """The package's stack with a propagation model, for one test."""
    from provisioner_local.iam_propagation import Propagation, parse_delay

    stack.propagation = Propagation(parse_delay("6"))
    try:
        yield stack
    finally:
        stack.propagation = None


def test_an_unreadable_deny_fails_fast_at_verify_access_naming_the_bucket_policy(
    propagating_stack, sfn, s3, iam, secrets, faults
):
    """GetBucketPolicy refused (the provisioner may not read it): Verify access meets the deny and stops."""
    stack = propagating_stack
    bucket = _bucket(s3)
    _seed(s3, bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_vpce_only(bucket)))
    connection_id = unique_id("denyfast")
    with _unreadable_bucket_policy(stack):
        run = run_flow(stack, sfn, _request(bucket, connection_id))
    clock = stack.propagation.clock

    assert run.status == "FAILED"
    assert run.error == "VerifyAccess.AccessDeniedByPolicy"
    assert "explicit deny in the bucket policy" in run.cause_json["message"]
    # Only the propagation of the new key was waited for (6 s drawn; and Apply CORS's and the rollback's
    # waits for S3 to show their CORS writes, under the flow suite's 2 s lag), not the 2-minute window.
    assert clock.skipped < 20
    _assert_nothing_left(iam, secrets, s3, bucket, connection_id)


class _unreadable_bucket_policy:  # noqa: N801 - a context manager used like a function
    """GetBucketPolicy answers AccessDenied to the functions, as for a provisioner the bucket policy shuts out."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def __enter__(self) -> None:
        from botocore.exceptions import ClientError

        def refuse(**kwargs: Any) -> None:
            if kwargs["model"].name == "GetBucketPolicy":
                error: Any = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                              "ResponseMetadata": {"HTTPStatusCode": 403}}  # fmt: skip
                raise ClientError(error, "GetBucketPolicy")

        self.refuse = refuse
        _functions_aws().SESSION_HOOKS.append(self._hook)
        _functions_aws().reset_clients()

    def _hook(self, session: boto3.session.Session) -> None:
        session.events.register("before-call.s3.GetBucketPolicy", self.refuse)

    def __exit__(self, *exc: object) -> None:
        _functions_aws().SESSION_HOOKS.remove(self._hook)
        _functions_aws().reset_clients()


def test_a_bucket_in_another_region_onboards_signed_for_its_region(stack, sfn, s3, secrets):
    bucket = _bucket(s3, region="eu-west-1")
    _seed(s3, bucket)
    run = run_flow(stack, sfn, _request(bucket, unique_id("eu")))
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["region"] == "eu-west-1"
    value = json.loads(secrets.get_secret_value(SecretId=run.output["secret_arn"])["SecretString"])
    assert value["region"] == "eu-west-1"
    assert key_client(stack, secrets, run.output["secret_arn"]).list_objects_v2(
        Bucket=bucket, Prefix="images/"
    )["KeyCount"] == len(SAMPLE_KEYS)


def test_the_propagation_model_changes_the_time_to_verified_but_not_the_outcome(propagating_stack, sfn, s3):
    stack = propagating_stack
    bucket = _bucket(s3)
    _seed(s3, bucket)
    run = run_flow(stack, sfn, _request(bucket, unique_id("prop")))
    assert run.status == "SUCCEEDED", run.cause
    # From the key's creation to its first accepted request, on the emulated clock: the waits before it
    # (Apply CORS's, for S3 to show its write) are not the key's.
    key_id = run.output["access_key_id"]
    [(delay, effective)] = [(d, at) for what, d, at in stack.propagation.drawn if what == f"key {key_id}"]
    waited = stack.propagation.accepted[key_id] - (effective - delay)
    retries = [e for e in run.history if e["type"] == "LambdaFunctionFailed"]
    assert retries, "a 6 s propagation delay must cost Verify access some retries"
    # The delay is waited out, not overshot by much (the schedule's step near 6 s).
    assert 5 <= waited <= 6 + 3
    assert run.output["verification"]["verified"] is True


def test_when_the_propagation_window_runs_out_the_error_says_how_long_and_what_refused(
    stack, sfn, s3, iam, secrets
):
    from provisioner_local.iam_propagation import Propagation, parse_delay

    bucket = _bucket(s3)
    _seed(s3, bucket)
    connection_id = unique_id("never")
    stack.propagation = Propagation(parse_delay("100000"))
    try:
        run = run_flow(stack, sfn, _request(bucket, connection_id), deadline_s=120)
        waited = stack.propagation.clock.skipped
    finally:
        stack.propagation = None

    assert run.status == "FAILED"
    assert run.error == "VerifyAccess.AccessNotYetEffective"
    message = run.cause_json["message"]
    assert "after the key was issued (attempt 111)" in message
    assert "last refusal: s3:ListObjectsV2: InvalidAccessKeyId" in message
    assert 100 <= waited <= 130
    _assert_nothing_left(iam, secrets, s3, bucket, connection_id)


def _functions_aws() -> Any:
    """provisioner_core.aws as the running stack's functions import it (the stack put its layer on the path)."""
    return importlib.import_module("provisioner_core.aws")
