from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.stub import Stubber

from functions.apply_cors.app import apply_cors
from functions.attach_policy.app import attach_policy
from functions.create_policy.app import create_policy
from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from functions.verify_access.app import POLICY_SETTLE_RETRIES, verify_access
from provisioner_core import aws as aws_module
from provisioner_core import cors_probe
from provisioner_core.connection import probe_key
from provisioner_core.errors import (
    AccessDeniedByPolicy,
    AccessNotYetEffective,
    AwsCallFailed,
    CorsNotYetVisible,
    PolicyDetached,
    VerificationFailed,
)
from provisioner_core.key_access import CORS_SETTLE_RETRIES, check_access
from provisioner_local import s3_cors
from tests.unit.conftest import SETTINGS, make_connection

NO_CORS = {"applied": False}


@pytest.fixture(autouse=True)
def s3_answers_cors_as_s3_does(monkeypatch: pytest.MonkeyPatch, s3: Any) -> None:
    """Under mock_aws nothing listens on S3's endpoint: the probe's requests get the answers the local
    stack's S3 CORS rules (provisioner_local.s3_cors) give for the bucket's real configuration."""

    def rules(bucket: str) -> list[s3_cors.CorsRule]:
        try:
            return [s3_cors.CorsRule.from_api(r) for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]]
        except s3.exceptions.ClientError:
            return []

    def send(url: str, headers: Mapping[str, str], **_: Any) -> cors_probe.HttpAnswer:
        bucket = urlsplit(url).hostname.split(".s3.")[0]  # type: ignore[union-attr]
        answer = s3_cors.preflight(
            rules(bucket), headers.get("Origin"), headers.get("Access-Control-Request-Method"),
            headers.get("Access-Control-Request-Headers"),
        )  # fmt: skip
        return cors_probe.HttpAnswer(answer.status, {k.lower(): v for k, v in answer.headers.items()})

    def signed_get(client: Any, bucket: str, key: str, origin: str) -> cors_probe.HttpAnswer:
        headers = s3_cors.actual_request_headers(rules(bucket), origin, "GET")
        return cors_probe.HttpAnswer(206, {k.lower(): v for k, v in headers.items()})

    monkeypatch.setattr(cors_probe, "send_request", send)
    monkeypatch.setattr(cors_probe, "signed_get", signed_get)


def _issue(iam, secrets, connection):
    """A key exactly as the flow issues it: user, attached policy, key in the secret."""
    user = create_user(iam, connection, SETTINGS)
    attach_policy(iam, user["user_name"], create_policy(iam, connection, SETTINGS)["policy_arn"])
    return issue_access_key(iam, secrets, connection)


def _outcomes(result):
    return {check["operation"]: check["outcome"] for check in result["checks"]}


def test_import_lists_reads_one_byte_and_finds_the_cors_rule(iam, s3, secrets, dynamodb, bucket, connection):
    access_key = _issue(iam, secrets, connection)
    cors = apply_cors(s3, dynamodb, connection, SETTINGS)
    result = verify_access(secrets, dynamodb, connection, access_key, cors)
    assert result["verified"] is True
    assert _outcomes(result) == {
        "s3:ListObjectsV2": "passed",
        "s3:GetObject": "passed",
        "s3:GetBucketCors": "passed",
        "cors:Preflight": "passed",
        "cors:GetObject": "passed",
        "cors:RuleOrder": "passed",
        "cors:ForeignOriginRefused": "passed",
    }


def test_empty_prefix_is_not_a_failure_but_says_get_was_not_tried(iam, s3, secrets, bucket, dynamodb):
    connection = make_connection(prefix="empty/", s3_uri=f"{bucket}/empty/")
    result = verify_access(secrets, dynamodb, connection, _issue(iam, secrets, connection), NO_CORS)
    assert _outcomes(result)["s3:GetObject"] == "not_tried"


def test_import_export_writes_reads_and_deletes_a_probe(iam, s3, secrets, bucket, dynamodb):
    connection = make_connection(access="import_export")
    result = verify_access(secrets, dynamodb, connection, _issue(iam, secrets, connection), NO_CORS)
    assert _outcomes(result)["s3:PutObject"] == "passed"
    assert _outcomes(result)["s3:DeleteObject"] == "passed"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert probe_key(connection) not in keys


def _probe_versions(s3: Any, bucket: str, key: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_in_a_versioned_bucket_the_probe_leaves_no_version_and_no_delete_marker(
    iam, s3, secrets, bucket, status, dynamodb
):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})
    connection = make_connection(access="import_export")
    access_key = _issue(iam, secrets, connection)
    # Twice: a second verification (a retry, a rotation) must not leave what the first removed.
    for _ in range(2):
        assert verify_access(secrets, dynamodb, connection, access_key, NO_CORS)["verified"] is True
    assert _probe_versions(s3, bucket, probe_key(connection)) == []


def test_missing_cors_rule_fails_verification(iam, s3, secrets, bucket, connection, dynamodb):
    access_key = _issue(iam, secrets, connection)
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]},
    )
    with pytest.raises(VerificationFailed, match="labellerr-satellite-images"):
        verify_access(
            secrets,
            dynamodb,
            connection,
            access_key,
            {"applied": True, "rule_id": "labellerr-satellite-images"},
        )


def test_a_rule_just_written_that_does_not_show_is_not_yet_then_never(
    iam, s3, secrets, bucket, connection, dynamodb
):
    """S3's bucket configuration is eventually consistent: right after Apply CORS the rule may not show."""
    access_key = _issue(iam, secrets, connection)
    cors = {"applied": True, "rule_id": "labellerr-satellite-images", "rule_added": True}
    with pytest.raises(CorsNotYetVisible, match="may not show the CORS configuration"):
        verify_access(secrets, dynamodb, connection, access_key, cors, attempt=3, cors_just_applied=True)
    with pytest.raises(VerificationFailed, match=f"still after {CORS_SETTLE_RETRIES} retries"):
        verify_access(
            secrets,
            dynamodb,
            connection,
            access_key,
            cors,
            attempt=CORS_SETTLE_RETRIES,
            cors_just_applied=True,
        )


def test_a_customer_rule_before_ours_fails_at_once_even_right_after_the_write(
    iam, s3, secrets, dynamodb, bucket, connection
):
    """The rules as read explain the failure: waiting would not change it."""
    access_key = _issue(iam, secrets, connection)
    cors = apply_cors(s3, dynamodb, connection, SETTINGS)
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    shadowing = {
        "ID": "customer",
        "AllowedOrigins": ["*"],
        "AllowedMethods": ["GET"],
        "AllowedHeaders": ["*"],
    }
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [shadowing, *rules]})
    with pytest.raises(VerificationFailed, match="cors:RuleOrder"):
        verify_access(secrets, dynamodb, connection, access_key, cors, cors_just_applied=True)


@pytest.mark.parametrize(
    "code", ["InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied"]
)
def test_refusals_that_fade_with_propagation_are_retryable(s3, connection, code, dynamodb):
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", code, "not yet", http_status_code=403)
        with pytest.raises(AccessNotYetEffective, match=code):
            check_access(s3, dynamodb, connection, NO_CORS)


def test_other_errors_are_not_retried(s3, connection, dynamodb):
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "NoSuchBucket", "gone", http_status_code=404)
        with pytest.raises(VerificationFailed, match="NoSuchBucket"):
            check_access(s3, dynamodb, connection, NO_CORS)


def test_a_server_error_is_retried_by_the_state_machine_not_failed(s3, connection, dynamodb):
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "InternalError", "oops", http_status_code=500)
        with pytest.raises(AwsCallFailed, match="InternalError"):
            check_access(s3, dynamodb, connection, NO_CORS)


@pytest.mark.parametrize(
    ("message", "names"),
    [
        (
            "User: arn:aws:iam::123456789012:user/labellerr/x is not authorized to perform: s3:ListBucket on "
            'resource: "arn:aws:s3:::b" with an explicit deny in a resource-based policy',
            "an explicit deny in the bucket policy",
        ),
        (
            "User: arn:aws:iam::123456789012:user/labellerr/x is not authorized to perform: kms:Decrypt on "
            "resource: arn:aws:kms:us-east-1:123456789012:key/1 because no identity-based policy allows the "
            "kms:Decrypt action",
            "KMS",
        ),
    ],
    ids=["bucket-policy", "kms"],
)
def test_refusals_that_time_does_not_change_fail_at_once(s3, connection, message, names, dynamodb):
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", message, http_status_code=403)
        with pytest.raises(AccessDeniedByPolicy) as raised:
            check_access(s3, dynamodb, connection, NO_CORS)
    assert names in str(raised.value)
    assert "waiting does not change" in str(raised.value)


def test_a_refusal_that_may_still_fade_says_how_long_the_key_has_existed_and_what_refused(
    iam, s3, secrets, bucket, connection, monkeypatch, dynamodb
):
    access_key = _issue(iam, secrets, connection)
    created = secrets.get_secret_value(SecretId=access_key["secret_arn"])["CreatedDate"]
    monkeypatch.setattr(aws_module, "client_with_key", lambda *args, **kwargs: s3)
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "InvalidAccessKeyId", "no such key", http_status_code=403)
        with pytest.raises(AccessNotYetEffective) as raised:
            verify_access(
                secrets,
                dynamodb,
                connection,
                access_key,
                NO_CORS,
                attempt=41,
                now=created + timedelta(seconds=42),
            )
    assert str(raised.value) == (
        "the new key is not effective yet 42 s after the key was issued (attempt 42); "
        "last refusal: s3:ListObjectsV2: InvalidAccessKeyId (no such key)"
    )


def test_another_connections_probe_is_never_the_object_read(iam, s3, secrets, bucket, connection, dynamodb):
    # A probe sorts before the customer's objects ('.' before letters) and its own run deletes it at any time.
    other_probe = probe_key({**connection, "connection_id": "other-run"})
    s3.put_object(Bucket=bucket, Key=other_probe, Body=b"labellerr connection check\n")
    result = verify_access(secrets, dynamodb, connection, _issue(iam, secrets, connection), NO_CORS)
    [read] = [check for check in result["checks"] if check["operation"] == "s3:GetObject"]
    assert read["outcome"] == "passed"
    assert "images/cat.png" in read["detail"]


def test_an_object_that_vanishes_before_its_read_is_sampled_again(
    iam, s3, secrets, bucket, connection, dynamodb
):
    s3.put_object(Bucket=bucket, Key="images/dog.png", Body=b"\x89PNG dog")
    access_key = _issue(iam, secrets, connection)
    reads: list[str] = []

    def vanishing_first(client: Any) -> Any:
        original = client.get_object

        def get_object(**kwargs: Any) -> Any:
            reads.append(kwargs["Key"])
            if len(reads) == 1:
                s3.delete_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"])
            return original(**kwargs)

        client.get_object = get_object
        return client

    real_client_with_key = aws_module.client_with_key

    def client_with_key(*args: Any, **kwargs: Any) -> Any:
        client = real_client_with_key(*args, **kwargs)
        return vanishing_first(client) if args and args[0] == "s3" else client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws_module, "client_with_key", client_with_key)
        result = verify_access(secrets, dynamodb, connection, access_key, NO_CORS)
    assert reads[:2] == ["images/cat.png", "images/dog.png"]
    assert _outcomes(result)["s3:GetObject"] == "passed"


@pytest.mark.parametrize(
    ("detached", "attempt", "policy_settled", "raised"),
    [
        (True, 0, True, PolicyDetached),  # a rotation: the policy was attached long ago
        (True, 0, False, AccessNotYetEffective),  # onboarding: IAM may not list the new attachment yet
        (True, POLICY_SETTLE_RETRIES, False, PolicyDetached),
        (False, 0, True, AccessNotYetEffective),  # attached: propagation, waited for as before
    ],
)
def test_a_detached_policy_is_not_taken_for_propagation(
    iam, s3, secrets, bucket, connection, monkeypatch, dynamodb, detached, attempt, policy_settled, raised
):
    access_key = _issue(iam, secrets, connection)
    user = connection["iam_user_name"]
    if detached:
        for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
            iam.detach_user_policy(UserName=user, PolicyArn=policy["PolicyArn"])
    monkeypatch.setattr(aws_module, "client_with_key", lambda *args, **kwargs: s3)
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", http_status_code=403)
        with pytest.raises(raised) as error:
            verify_access(
                secrets, dynamodb, connection, access_key, NO_CORS,
                attempt=attempt, iam=iam, policy_settled=policy_settled,
            )  # fmt: skip
    if raised is PolicyDetached:
        assert f"policy {connection['policy_name']} is no longer attached to user {user}" in str(error.value)


@pytest.mark.usefixtures("s3_answers_cors_as_s3_does")
def test_a_rotation_judges_cors_by_effect_so_a_customer_rule_granting_the_same_passes(
    iam, s3, secrets, bucket, connection, dynamodb
):
    """Terraform replaced our rule with its own that grants exactly what Labellerr needs: the browser is
    served, so a rotation (no rule just written) passes; onboarding, which just wrote ours, still waits."""
    access_key = _issue(iam, secrets, connection)
    cors = apply_cors(s3, dynamodb, connection, SETTINGS)
    ours = s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{**ours, "ID": "from-terraform"}]})
    result = verify_access(secrets, dynamodb, connection, access_key, cors)
    outcomes = _outcomes(result)
    assert outcomes["s3:GetBucketCors"] == "warning"
    assert outcomes["cors:Preflight"] == outcomes["cors:RuleOrder"] == "passed"
    with pytest.raises(CorsNotYetVisible):
        verify_access(secrets, dynamodb, connection, access_key, cors, cors_just_applied=True)
