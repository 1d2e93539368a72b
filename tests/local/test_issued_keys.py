"""The local stack's S3 for requests signed with issued keys: Requester Pays, bucket-policy denies, SSE-KMS,
and IAM propagation, over HTTP (issued_keys). Admin requests (dummy key) are never checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner_local.emulator import LocalStack
from provisioner_local.iam_propagation import FixedDelay, Propagation

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
BUCKET = "issued-keys-bucket"
ALLOW_ALL_S3 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"], "Resource": "*"}]}  # fmt: skip


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE, enforce_iam=True) as running:
        running.client("s3").create_bucket(Bucket=BUCKET)
        running.client("s3").put_object(Bucket=BUCKET, Key="images/a.png", Body=b"png")
        yield running


def _user(stack: LocalStack, name: str, document: dict[str, Any] = ALLOW_ALL_S3) -> Any:
    iam = stack.client("iam")
    iam.create_user(UserName=name, Path="/labellerr/")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.client("s3", endpoint_url=stack.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])  # fmt: skip


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return {"code": raised.value.response["Error"]["Code"], "message": raised.value.response["Error"].get("Message", ""),
            "status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}  # fmt: skip


def test_requester_pays_is_kept_and_refuses_issued_keys_without_the_header(stack):
    admin = stack.client("s3")
    user = _user(stack, "payer-user")
    admin.put_bucket_request_payment(Bucket=BUCKET, RequestPaymentConfiguration={"Payer": "Requester"})
    try:
        assert admin.get_bucket_request_payment(Bucket=BUCKET)["Payer"] == "Requester"
        assert _error(user.get_object, Bucket=BUCKET, Key="images/a.png") == {
            "code": "AccessDenied", "message": "Access Denied", "status": 403}  # fmt: skip
        assert (
            user.get_object(Bucket=BUCKET, Key="images/a.png", RequestPayer="requester")["Body"].read()
            == b"png"
        )
        assert admin.get_object(Bucket=BUCKET, Key="images/a.png")["Body"].read() == b"png"
    finally:
        admin.put_bucket_request_payment(Bucket=BUCKET, RequestPaymentConfiguration={"Payer": "BucketOwner"})
    assert admin.get_bucket_request_payment(Bucket=BUCKET)["Payer"] == "BucketOwner"


def test_an_explicit_deny_in_the_bucket_policy_is_403_with_s3s_message(stack):
    admin = stack.client("s3")
    user = _user(stack, "denied-user")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "VpceOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}]}  # fmt: skip
    admin.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    try:
        refused = _error(user.list_objects_v2, Bucket=BUCKET, Prefix="images/")
        assert (refused["code"], refused["status"]) == ("AccessDenied", 403)
        assert refused["message"] == (
            "User: arn:aws:iam::123456789012:user/labellerr/denied-user is not authorized to perform: "
            f's3:ListBucket on resource: "arn:aws:s3:::{BUCKET}" with an explicit deny in a resource-based policy'
        )
        assert "explicit deny" in _error(user.get_object, Bucket=BUCKET, Key="images/a.png")["message"]
        # The admin (not an issued key) is not subject to the local check.
        assert admin.get_object(Bucket=BUCKET, Key="images/a.png")["Body"].read() == b"png"
    finally:
        admin.delete_bucket_policy(Bucket=BUCKET)
    assert user.get_object(Bucket=BUCKET, Key="images/a.png")["Body"].read() == b"png"


def test_sse_kms_objects_need_kms_decrypt_and_writes_generate_data_key(stack):
    admin, kms = stack.client("s3"), stack.client("kms")
    key = kms.create_key()["KeyMetadata"]
    admin.put_object(Bucket=BUCKET, Key="images/kms.png", Body=b"kms", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId=key["Arn"])  # fmt: skip
    plain = _user(stack, "no-kms-user")
    refused = _error(plain.get_object, Bucket=BUCKET, Key="images/kms.png")
    assert refused["code"] == "AccessDenied"
    assert f"kms:Decrypt on resource: {key['Arn']}" in refused["message"]
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    reader = _user(stack, "kms-reader", {"Version": "2012-10-17", "Statement": [
        *ALLOW_ALL_S3["Statement"],
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"], "Condition": via_s3}]})  # fmt: skip
    assert reader.get_object(Bucket=BUCKET, Key="images/kms.png")["Body"].read() == b"kms"
    put = _error(reader.put_object, Bucket=BUCKET, Key="images/new.png", Body=b"x",
                 ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])  # fmt: skip
    assert "kms:GenerateDataKey" in put["message"]
    # Objects without SSE-KMS need no KMS permission at all.
    assert plain.get_object(Bucket=BUCKET, Key="images/a.png")["Body"].read() == b"png"


def test_a_new_key_and_a_new_attachment_wait_out_the_propagation_delay(stack):
    stack.propagation = Propagation(FixedDelay(5))
    try:
        user = _user(stack, "new-user")
        assert _error(user.list_objects_v2, Bucket=BUCKET)["code"] == "InvalidAccessKeyId"
        stack.propagation.clock.skip(5)
        assert user.list_objects_v2(Bucket=BUCKET)["KeyCount"] >= 1
        iam = stack.client("iam")
        arn = iam.create_policy(PolicyName="late", PolicyDocument=json.dumps(ALLOW_ALL_S3))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="new-user", PolicyArn=arn)
        denied = _error(user.list_objects_v2, Bucket=BUCKET)
        assert denied["code"] == "AccessDenied"
        assert "because no identity-based policy allows the s3:ListBucket action" in denied["message"]
        stack.propagation.clock.skip(5)
        assert user.list_objects_v2(Bucket=BUCKET)["KeyCount"] >= 1
    finally:
        stack.propagation = None


def test_a_request_signed_for_another_region_than_the_buckets_is_refused(stack):
    admin = stack.client("s3")
    admin.create_bucket(
        Bucket="issued-keys-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    user = _user(stack, "region-user")
    refused = _error(user.list_objects_v2, Bucket="issued-keys-eu")
    assert (refused["code"], refused["status"]) == ("AuthorizationHeaderMalformed", 400)
    assert "expecting 'eu-west-1'" in refused["message"]
    eu = boto3.client("s3", endpoint_url=stack.endpoint_url, region_name="eu-west-1",
                      aws_access_key_id=user._request_signer._credentials.access_key,
                      aws_secret_access_key=user._request_signer._credentials.secret_key)  # fmt: skip
    assert eu.list_objects_v2(Bucket="issued-keys-eu")["KeyCount"] == 0
