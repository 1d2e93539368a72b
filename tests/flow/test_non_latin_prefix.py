"""A prefix beyond Latin-1 (`画像/2024/`) onboards: the local stack refuses, as IAM does, a policy document
outside IAM's character pattern (provisioner_local.iam_policy_documents), so this run proves the document
the flow sends is one IAM accepts, and that the escaped prefix still grants exactly that prefix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner_core.fence import TAG_FENCE_PREFIX
from provisioner_core.policy import POLICY_DOCUMENT_PATTERN
from tests.support.clients import key_client
from tests.support.executions import run_flow, unique_id
from tests.support.residue import leftovers

pytestmark = pytest.mark.flow

PREFIX = "\u753b\u50cf/2024/"
KEYS = (f"{PREFIX}cat-1.png", f"{PREFIX}nested/dog.png")


def _stored_document(iam: Any, policy_arn: str) -> str:
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    return document if isinstance(document, str) else json.dumps(document)


def test_a_cjk_prefix_onboards_and_its_key_lists_that_prefix(stack, sfn, s3, iam, secrets, bucket):
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"\x89PNG\r\n\x1a\n")
    s3.put_object(Bucket=bucket, Key="\u753b\u50cf/2023/old.png", Body=b"x")

    run = run_flow(stack, sfn, {"connection_name": "Pictures", "s3_uri": f"s3://{bucket}/{PREFIX}"})

    assert run.status == "SUCCEEDED", run.cause
    out = run.output
    assert out is not None
    assert (out["status"], out["prefix"]) == ("ACTIVE", PREFIX)
    stored = _stored_document(iam, out["policy_arn"])
    statements = {s["Sid"]: s for s in json.loads(stored)["Statement"]}
    assert statements["ReadObjects"]["Resource"] == f"arn:aws:s3:::{bucket}/{PREFIX}*"
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=out["iam_user_name"])["Tags"]}
    assert tags[TAG_FENCE_PREFIX] == PREFIX  # letters: a tag value holds them

    as_key = key_client(stack, secrets, out["secret_arn"])
    listed = as_key.list_objects_v2(Bucket=bucket, Prefix=PREFIX)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(KEYS)
    assert as_key.get_object(Bucket=bucket, Key=KEYS[0])["Body"].read().startswith(b"\x89PNG")
    with pytest.raises(Exception) as raised:  # noqa: PT011 - botocore error classes differ per client
        as_key.get_object(Bucket=bucket, Key="\u753b\u50cf/2023/old.png")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"


def test_the_stack_refuses_the_document_the_flow_used_to_send(stack, iam):
    # Without escapes (the old serialization), CreatePolicy fails as IAM's does: the run would roll back.
    unescaped = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b/{PREFIX}*"}
            ],
        },
        ensure_ascii=False,
    )
    assert not POLICY_DOCUMENT_PATTERN.fullmatch(unescaped)
    with pytest.raises(iam.exceptions.ClientError) as raised:
        iam.create_policy(PolicyName=unique_id("unescaped"), PolicyDocument=unescaped)
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_a_non_latin_prefix_too_long_for_the_policy_is_refused_before_anything_is_created(
    stack, sfn, iam, secrets, bucket
):
    connection_id = unique_id()
    prefix = "\U0001f431" * 255 + "/"  # 1,021 bytes: a valid S3 key, but 12 characters each in the policy
    run = run_flow(
        stack,
        sfn,
        {"connection_name": "Cats", "connection_id": connection_id, "bucket": bucket, "prefix": prefix},
    )
    assert run.status == "FAILED"
    assert run.error == "ValidateRequest.InvalidRequest"
    assert "prefix: makes the IAM policy" in run.cause_json["message"]
    assert "IAM allows 6144" in run.cause_json["message"]
    assert leftovers(iam, secrets, connection_id) == []
