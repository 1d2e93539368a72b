"""IAM's policy document rules (iam_policy_documents): the character pattern of CreatePolicy,
CreatePolicyVersion and PutUserPolicy's PolicyDocument, and the managed and inline size quotas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from provisioner_core.policy import build_policy_document, serialize_policy
from provisioner_local import iam_policy_documents
from provisioner_local.aws_patches import Patches
from provisioner_local.iam_policy_documents import character_problem, counted_size

PATTERN_REFUSAL = (
    "at 'policyDocument' failed to satisfy constraint: Member must satisfy regular expression pattern: "
    "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
)


def document(resource: str, *, ensure_ascii: bool) -> str:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, ensure_ascii=ensure_ascii)


def padded(size: int) -> str:
    """A valid document that IAM counts as exactly `size` characters (compact, so nothing is skipped)."""
    text = document("arn:aws:s3:::b/", ensure_ascii=True).replace(" ", "")
    text = text.replace("b/", "b/" + "x" * (size - len(text)))
    assert counted_size(text) == size
    return text


@pytest.fixture
def iam() -> Iterator[Any]:
    patches = Patches()
    iam_policy_documents.install(patches)
    try:
        with mock_aws():
            client = boto3.client("iam", region_name="us-east-1")
            client.create_user(UserName="alice")
            yield client
    finally:
        patches.undo()


def refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


@pytest.mark.parametrize("text", ["price\u20ac/", "\u753b\u50cf/2024/", "cats\U0001f431/", "\u2028"])
def test_a_character_above_u_00ff_is_outside_the_pattern(text: str) -> None:
    problem = character_problem(document(f"arn:aws:s3:::b/{text}*", ensure_ascii=False))
    assert problem is not None
    assert problem.startswith("1 validation error detected: Value '")
    assert PATTERN_REFUSAL in problem


@pytest.mark.parametrize("text", ["donn\u00e9es/", "tab\there", "\u00ff", "plain/"])
def test_latin_1_tab_and_escapes_are_inside_the_pattern(text: str) -> None:
    assert character_problem(json.dumps({"Resource": text}, ensure_ascii=False)) is None
    assert character_problem(document(f"arn:aws:s3:::b/{text}\u20ac*", ensure_ascii=True)) is None


def test_white_space_is_not_counted() -> None:
    assert counted_size('{ "a" :\n\t"b c" }') == len('{"a":"bc"}')


def test_create_policy_refuses_a_euro_sign_and_accepts_its_escape(iam: Any) -> None:
    with pytest.raises(ClientError) as raised:
        iam.create_policy(
            PolicyName="p", PolicyDocument=document("arn:aws:s3:::b/\u20ac/*", ensure_ascii=False)
        )
    code, message = refusal(raised)
    assert code == "ValidationError"
    assert PATTERN_REFUSAL in message
    assert iam.list_policies(Scope="Local")["Policies"] == []
    arn = iam.create_policy(
        PolicyName="p", PolicyDocument=document("arn:aws:s3:::b/\u20ac/*", ensure_ascii=True)
    )["Policy"]["Arn"]
    stored = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["Statement"][0]["Resource"] == "arn:aws:s3:::b/\u20ac/*"


def test_the_provisioners_policy_for_a_cjk_prefix_is_accepted(iam: Any) -> None:
    built = build_policy_document(
        partition="aws", bucket="acme", prefix="\u753b\u50cf/2024/", access="import_export"
    )
    iam.create_policy(PolicyName="connection", PolicyDocument=serialize_policy(built))


def test_create_policy_version_and_put_user_policy_refuse_the_same_characters(iam: Any) -> None:
    arn = iam.create_policy(PolicyName="p", PolicyDocument=padded(200))["Policy"]["Arn"]
    outside = document("arn:aws:s3:::b/\u753b/*", ensure_ascii=False)
    with pytest.raises(ClientError) as raised:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=outside, SetAsDefault=True)
    assert refusal(raised)[0] == "ValidationError"
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 1
    with pytest.raises(ClientError) as raised:
        iam.put_user_policy(UserName="alice", PolicyName="inline", PolicyDocument=outside)
    assert refusal(raised)[0] == "ValidationError"
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []


def test_a_managed_policy_over_6144_characters_is_refused(iam: Any) -> None:
    iam.create_policy(PolicyName="fits", PolicyDocument=padded(6144))
    # White space is free: an indented document of the same content still fits.
    iam.create_policy(PolicyName="indented", PolicyDocument=json.dumps(json.loads(padded(6144)), indent=4))
    with pytest.raises(ClientError) as raised:
        iam.create_policy(PolicyName="over", PolicyDocument=padded(6145))
    assert refusal(raised) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144")
    arn = iam.get_policy(PolicyArn="arn:aws:iam::123456789012:policy/fits")["Policy"]["Arn"]
    with pytest.raises(ClientError) as raised:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=padded(6145), SetAsDefault=True)
    assert refusal(raised)[0] == "LimitExceeded"


def test_a_users_inline_policies_together_hold_at_most_2048_characters(iam: Any) -> None:
    iam.put_user_policy(UserName="alice", PolicyName="one", PolicyDocument=padded(1024))
    iam.put_user_policy(UserName="alice", PolicyName="two", PolicyDocument=padded(1024))
    # Replacing a policy counts the new document instead of the old one.
    iam.put_user_policy(UserName="alice", PolicyName="two", PolicyDocument=padded(900))
    with pytest.raises(ClientError) as raised:
        iam.put_user_policy(UserName="alice", PolicyName="three", PolicyDocument=padded(125))
    assert refusal(raised) == ("LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user alice")
    assert sorted(iam.list_user_policies(UserName="alice")["PolicyNames"]) == ["one", "two"]


def test_install_is_undone() -> None:
    from moto.iam.models import IAMBackend

    before = (IAMBackend.create_policy, IAMBackend.create_policy_version, IAMBackend.put_user_policy)
    patches = Patches()
    iam_policy_documents.install(patches)
    assert IAMBackend.create_policy is not before[0]
    patches.undo()
    assert (IAMBackend.create_policy, IAMBackend.create_policy_version, IAMBackend.put_user_policy) == before
