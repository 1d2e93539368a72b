"""The boundary's fence: a policy widened by hand still cannot take the issued key outside its connection's
prefix (or, for a prefix no tag value can hold, outside its bucket), because the boundary names the user's
objects through the principal tags Create user set (provisioner_core.fence)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from provisioner_core.fence import TAG_FENCE_BUCKET, TAG_FENCE_PREFIX
from tests.support.buckets import SAMPLE_KEYS
from tests.support.clients import key_client
from tests.support.executions import run_flow

pytestmark = pytest.mark.flow

BOUNDARY_REFUSAL = "because no permissions boundary allows"


def _refusal(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - botocore error classes differ per client
        call(**kwargs)
    error = raised.value.response["Error"]  # type: ignore[attr-defined]
    return error["Code"], error.get("Message", "")


def _widen_by_hand(iam: Any, user_name: str) -> None:
    """What an operator might do: an inline and a managed policy granting every object of every bucket."""
    everything = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]},
        ],
    }  # fmt: skip
    iam.put_user_policy(
        UserName=user_name, PolicyName="widened-by-hand", PolicyDocument=json.dumps(everything)
    )
    managed = iam.create_policy(
        PolicyName=f"widened-{uuid.uuid4().hex[:8]}", PolicyDocument=json.dumps(everything)
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user_name, PolicyArn=managed)


def _other_bucket(s3: Any) -> str:
    name = f"acme-other-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="images/secret.png", Body=b"x")
    return name


def _onboard(
    stack: Any, sfn: Any, iam: Any, bucket: str, prefix: str
) -> tuple[dict[str, Any], dict[str, str]]:
    run = run_flow(stack, sfn, {"connection_name": "Fenced", "s3_uri": f"s3://{bucket}/{prefix}"})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output is not None
    tags = iam.list_user_tags(UserName=run.output["iam_user_name"])["Tags"]
    return run.output, {t["Key"]: t["Value"] for t in tags}


def test_a_widened_policy_cannot_leave_the_connections_prefix(stack, sfn, s3, iam, secrets, bucket):
    out, tags = _onboard(stack, sfn, iam, bucket, "images/")
    assert (tags[TAG_FENCE_BUCKET], tags[TAG_FENCE_PREFIX]) == (bucket, "images/")
    other = _other_bucket(s3)
    _widen_by_hand(iam, out["iam_user_name"])

    as_key = key_client(stack, secrets, out["secret_arn"])
    assert as_key.get_object(Bucket=bucket, Key=SAMPLE_KEYS[0])["Body"].read().startswith(b"\x89PNG")
    for call, kwargs in (
        (as_key.get_object, {"Bucket": bucket, "Key": "private/payroll.csv"}),
        (as_key.list_objects_v2, {"Bucket": bucket, "Prefix": "private/"}),
        (as_key.list_objects_v2, {"Bucket": bucket}),
        (as_key.put_object, {"Bucket": bucket, "Key": "private/evil.csv", "Body": b"x"}),
        (as_key.get_object, {"Bucket": other, "Key": "images/secret.png"}),
    ):
        code, message = _refusal(call, **kwargs)
        assert code == "AccessDenied", kwargs
        # Refused by the boundary: the widened identity policies allow it.
        assert BOUNDARY_REFUSAL in message, (kwargs, message)


def test_a_prefix_no_tag_value_can_hold_is_fenced_to_its_bucket(stack, sfn, s3, iam, secrets, bucket):
    # `~`: no tag value can hold it (moto cannot match `(` in a policy ARN, so not that one).
    prefix = "runs~1/"
    s3.put_object(Bucket=bucket, Key=f"{prefix}cat.png", Body=b"\x89PNG")
    out, tags = _onboard(stack, sfn, iam, bucket, prefix)
    assert tags[TAG_FENCE_BUCKET] == bucket
    assert TAG_FENCE_PREFIX not in tags
    as_key = key_client(stack, secrets, out["secret_arn"])
    assert as_key.get_object(Bucket=bucket, Key=f"{prefix}cat.png")["Body"].read() == b"\x89PNG"
    # Its own policy alone keeps it to the prefix ...
    assert _refusal(as_key.get_object, Bucket=bucket, Key="private/payroll.csv")[0] == "AccessDenied"
    other = _other_bucket(s3)
    _widen_by_hand(iam, out["iam_user_name"])
    # ... widened, the boundary's cap for such prefixes is the bucket: the rest of it, never another bucket.
    assert as_key.get_object(Bucket=bucket, Key="private/payroll.csv")["Body"].read() == b"name,salary\n"
    code, message = _refusal(as_key.get_object, Bucket=other, Key="images/secret.png")
    assert code == "AccessDenied"
    assert BOUNDARY_REFUSAL in message
