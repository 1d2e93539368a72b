"""Validate request's look at the bucket: encryption and its keys, Requester Pays, the bucket policy."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.validate_request.app import validate_request
from provisioner_core import bucket_facts
from provisioner_core.errors import (
    BucketPolicyDenies,
    KmsKeyNotUsable,
    RequesterPaysBucket,
    UnsupportedEncryption,
)
from tests.unit.conftest import EXECUTION_ARN, SETTINGS

BUCKET = "acme-datasets"
ACCOUNT = "123456789012"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/labellerr/labellerr-x"


@pytest.fixture
def kms(aws: None) -> Any:
    return boto3.client("kms")


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="images/cat-1.png", Body=b"png")
    return BUCKET


def _kms_default(s3: Any, key_id: str) -> None:
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}
            ]
        },
    )


def _validate(s3: Any, kms: Any, **request: Any) -> Any:
    return validate_request(
        s3, {"connection_name": "x", "s3_uri": f"{BUCKET}/images/", **request}, EXECUTION_ARN, SETTINGS, kms
    )


def test_a_bucket_that_never_set_encryption_is_sse_s3_and_grants_no_key(s3, kms, bucket):
    connection = _validate(s3, kms)
    assert connection["encryption"]["type"] == "AES256"
    assert connection["encryption"]["customer_kms_key_arns"] == []
    assert connection["requester_pays"] == "no"
    assert connection["bucket_policy"] == {"status": "none"}


def test_an_alias_is_resolved_to_the_key_arn(s3, kms, bucket):
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/datasets", TargetKeyId=key["KeyId"])
    _kms_default(s3, "alias/datasets")
    encryption = _validate(s3, kms)["encryption"]
    assert encryption["type"] == "aws:kms"
    assert encryption["kms_key_arn"] == key["Arn"]
    assert encryption["key_manager"] == "CUSTOMER"
    assert encryption["customer_kms_key_arns"] == [key["Arn"]]
    assert encryption["key_policies"] == {key["Arn"]: "ok"}


def test_the_aws_managed_s3_key_needs_nothing(s3, kms, bucket):
    _kms_default(s3, "alias/aws/s3")
    encryption = _validate(s3, kms)["encryption"]
    assert encryption["key_manager"] == "AWS"
    assert encryption["customer_kms_key_arns"] == []


def test_aws_kms_without_a_key_id_means_the_aws_managed_key(s3, kms, bucket):
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    assert _validate(s3, kms)["encryption"]["customer_kms_key_arns"] == []


def test_objects_written_under_another_key_are_granted_too(s3, kms, bucket):
    other = kms.create_key()["KeyMetadata"]
    s3.put_object(
        Bucket=BUCKET,
        Key="images/old.png",
        Body=b"x",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=other["Arn"],
    )
    encryption = _validate(s3, kms)["encryption"]
    assert encryption["type"] == "AES256"
    assert encryption["object_kms_key_arns"] == [other["Arn"]]
    assert encryption["customer_kms_key_arns"] == [other["Arn"]]


def test_a_key_policy_that_lets_no_iam_policy_grant_use_fails_saying_what_it_needs(s3, kms, bucket):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Admins",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = kms.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    _kms_default(s3, key["Arn"])
    with pytest.raises(KmsKeyNotUsable) as raised:
        _validate(s3, kms, access="import_export")
    message = str(raised.value)
    assert key["Arn"] in message
    assert f"arn:aws:iam::{ACCOUNT}:root" in message
    assert "kms:Decrypt, kms:GenerateDataKey" in message


def test_an_unreadable_key_policy_is_not_a_failure(s3, kms, bucket):
    key = kms.create_key()["KeyMetadata"]
    _kms_default(s3, key["Arn"])
    with Stubber(kms) as stub:
        stub.add_response(
            "describe_key",
            {
                "KeyMetadata": {
                    "KeyId": key["KeyId"],
                    "Arn": key["Arn"],
                    "KeyManager": "CUSTOMER",
                    "KeyState": "Enabled",
                }
            },
        )
        stub.add_client_error("get_key_policy", "AccessDeniedException", http_status_code=400)
        encryption = _validate(s3, kms)["encryption"]
    assert encryption["key_policies"] == {key["Arn"]: "unreadable"}
    assert encryption["customer_kms_key_arns"] == [key["Arn"]]


def test_a_disabled_key_fails(s3, kms, bucket):
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    _kms_default(s3, key["Arn"])
    with pytest.raises(KmsKeyNotUsable, match="Disabled"):
        _validate(s3, kms)


def test_sse_c_objects_fail_clearly(s3):
    with Stubber(s3) as stub:
        stub.add_client_error("head_object", "400", "Bad Request", http_status_code=400)
        with pytest.raises(UnsupportedEncryption, match="SSE-C"):
            bucket_facts.object_encryption(s3, BUCKET, ["images/secret.png"])


def test_requester_pays_fails_naming_the_setting_and_the_fix(s3):
    with Stubber(s3) as stub:
        stub.add_response("get_bucket_request_payment", {"Payer": "Requester"}, {"Bucket": BUCKET})
        with pytest.raises(RequesterPaysBucket) as raised:
            bucket_facts.requester_pays(s3, BUCKET)
    assert "Requester Pays" in str(raised.value)
    assert "Payer=BucketOwner" in str(raised.value)


def test_unreadable_optional_settings_are_unknown_not_failures(s3):
    with Stubber(s3) as stub:
        stub.add_client_error("get_bucket_request_payment", "AccessDenied", http_status_code=403)
        stub.add_client_error("get_bucket_policy", "AccessDenied", http_status_code=403)
        stub.add_client_error("get_bucket_encryption", "AccessDenied", http_status_code=403)
        assert bucket_facts.requester_pays(s3, BUCKET) == "unknown"
        found = bucket_facts.inspect_bucket_policy(
            s3,
            bucket=BUCKET,
            prefix="images/",
            partition="aws",
            access="import",
            principal_arn=USER_ARN,
            account_id=ACCOUNT,
            sample_key="",
        )
        assert found == {"status": "unreadable"}
        assert bucket_facts.default_encryption(s3, BUCKET) == {"type": "unreadable"}


def _deny(condition: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    statement = {
        "Sid": "OnlyVpce",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        **fields,
    }
    if condition is not None:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def test_a_vpc_endpoint_only_deny_fails_at_validation_naming_the_bucket_policy(s3, kms, bucket):
    policy = _deny({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    with pytest.raises(BucketPolicyDenies) as raised:
        _validate(s3, kms)
    assert "bucket policy" in str(raised.value)
    assert "'OnlyVpce'" in str(raised.value)


@pytest.mark.parametrize(
    "policy",
    [
        _deny({"Bool": {"aws:SecureTransport": "false"}}),
        _deny({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/labellerr/*"}}),
        _deny(Resource=f"arn:aws:s3:::{BUCKET}/private/*"),
        _deny(Action="s3:PutBucketPolicy"),
    ],
    ids=["tls-only", "exempts-our-path", "other-prefix", "other-action"],
)
def test_denies_that_spare_the_issued_user_pass(s3, kms, bucket, policy):
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    assert _validate(s3, kms)["bucket_policy"] == {"status": "read", "explicit_denies": []}


def test_a_deny_that_depends_on_the_callers_ip_is_left_to_verification(s3, kms, bucket):
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps(_deny({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    )
    assert _validate(s3, kms)["bucket_policy"]["possible_denies"] == ["OnlyVpce"]


def test_a_deny_naming_the_principal_exactly_fails(s3, kms, bucket):
    policy = _deny(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Action="s3:GetObject")
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    with pytest.raises(BucketPolicyDenies, match="s3:GetObject"):
        _validate(s3, kms)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*"}, "yes"),
        ({"Principal": {"AWS": ACCOUNT}, "Action": ["kms:Decrypt", "kms:Encrypt"]}, "yes"),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:Encrypt"}, "no"),
        ({"Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "kms:*"}, "no"),
        ({"Principal": {"AWS": "*"}, "Action": "kms:Decrypt",
          "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}}}, "conditional"),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
          "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}, "conditional"),
    ],
)  # fmt: skip
def test_what_a_key_policy_lets_iam_grant(statement, expected):
    policy = {"Statement": [{"Effect": "Allow", "Resource": "*", **statement}]}
    assert bucket_facts.key_policy_grant(policy, ACCOUNT, "kms:Decrypt") == expected
