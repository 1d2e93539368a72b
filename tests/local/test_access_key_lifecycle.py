"""What AWS does with an access key's status and use, taught to the local stack (inactive_keys,
key_last_used), and what GetSecretValue answers after UpdateSecretVersionStage (secret_version_stages).

Rules from AWS's documentation:
- an Inactive key "can't be used to make API calls"; S3 answers 403 InvalidAccessKeyId, IAM and other
  query APIs InvalidClientTokenId; making it Active again makes it work again;
- GetAccessKeyLastUsed: "the date and time, ... when the access key was most recently used", with the
  service and Region "specified in the last request made with that key"; null when never used;
- GetSecretValue without VersionId or VersionStage "returns the AWSCURRENT version".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner_local.emulator import LocalStack

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
BUCKET = "key-lifecycle-bucket"
ALLOW_ALL_S3 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}]}  # fmt: skip


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE, enforce_iam=True) as running:
        running.client("s3").create_bucket(Bucket=BUCKET)
        yield running


def _user_key(stack: LocalStack, name: str) -> dict[str, str]:
    iam = stack.client("iam")
    iam.create_user(UserName=name, Path="/labellerr/")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(ALLOW_ALL_S3))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    return iam.create_access_key(UserName=name)["AccessKey"]


def _client(stack: LocalStack, key: dict[str, str], service: Any = "s3", secret: str | None = None) -> Any:
    return boto3.client(
        service, endpoint_url=stack.endpoint_url, region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=secret or key["SecretAccessKey"],
    )  # fmt: skip


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_an_inactive_key_is_refused_as_unknown_and_works_again_once_active(stack):
    iam = stack.client("iam")
    key = _user_key(stack, "inactive-key-user")
    s3 = _client(stack, key)
    s3.list_objects_v2(Bucket=BUCKET)
    iam.update_access_key(UserName="inactive-key-user", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert _code(s3.list_objects_v2, Bucket=BUCKET) == "InvalidAccessKeyId"
    assert _code(_client(stack, key, "iam").get_user) == "InvalidClientTokenId"
    iam.update_access_key(UserName="inactive-key-user", AccessKeyId=key["AccessKeyId"], Status="Active")
    s3.list_objects_v2(Bucket=BUCKET)


def test_last_use_is_the_latest_authenticated_request_and_nothing_else(stack):
    iam = stack.client("iam")
    key = _user_key(stack, "last-used-user")
    never = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert "LastUsedDate" not in never
    assert never["ServiceName"] == "N/A"

    # A wrong signature authenticates nothing, so it is no use of the key.
    assert _code(_client(stack, key, secret="not-the-secret").list_objects_v2, Bucket=BUCKET) == (
        "SignatureDoesNotMatch"
    )
    assert (
        "LastUsedDate"
        not in iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    )

    before = datetime.now(UTC) - timedelta(seconds=1)
    _client(stack, key).list_objects_v2(Bucket=BUCKET)
    used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert used["ServiceName"] == "s3"
    assert used["Region"] == "us-east-1"
    assert used["LastUsedDate"] >= before

    # An Inactive key's requests are refused before they count.
    iam.update_access_key(UserName="last-used-user", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert _code(_client(stack, key).list_objects_v2, Bucket=BUCKET) == "InvalidAccessKeyId"
    assert iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"] == used


def test_moving_awscurrent_changes_what_every_reader_gets(stack):
    secrets = stack.client("secretsmanager")
    arn = secrets.create_secret(Name="stages/one", SecretString="old")["ARN"]
    old = secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]
    [old_version] = old
    secrets.put_secret_value(SecretId=arn, SecretString="new", VersionStages=["AWSPENDING"],
                             ClientRequestToken="00000000-0000-4000-8000-000000000002")  # fmt: skip
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "old"
    secrets.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT",
        MoveToVersionId="00000000-0000-4000-8000-000000000002", RemoveFromVersionId=old_version,
    )  # fmt: skip
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "new"
    assert secrets.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "old"
    # And back, as a rollback does.
    secrets.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT",
        MoveToVersionId=old_version, RemoveFromVersionId="00000000-0000-4000-8000-000000000002",
    )  # fmt: skip
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "old"
