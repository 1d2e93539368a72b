"""Policy variables as the IAM User Guide documents them ("IAM policy elements: Variables and tags"), and the
permissions boundary that uses them, against the local stack's own evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner_local.bucket_policy_enforcement import S3Request
from provisioner_local.permissions_boundary import refusal
from provisioner_local.policy_variables import (
    Unresolvable,
    pattern,
    resolved_condition,
    resource_matches,
    substitute,
)

TAGS = {"aws:PrincipalTag/team": "red", "aws:username": "alice", "aws:PrincipalTag/labels": ["a", "b"]}


def allows(resource_pattern: str, resource: str, context: dict[str, Any] = TAGS) -> bool:
    return resource_matches({"Resource": resource_pattern}, resource, context)


def test_a_variable_takes_the_value_of_its_key():
    assert allows("arn:aws:s3:::bucket/${aws:PrincipalTag/team}/*", "arn:aws:s3:::bucket/red/x.png")
    assert not allows("arn:aws:s3:::bucket/${aws:PrincipalTag/team}/*", "arn:aws:s3:::bucket/blue/x.png")
    assert substitute("home/${aws:username}/", TAGS) == "home/alice/"


def test_key_names_are_case_insensitive():
    assert substitute("${AWS:PrincipalTag/TEAM}", TAGS) == "red"


def test_an_absent_key_makes_the_statement_not_match():
    assert not allows("arn:aws:s3:::bucket/${aws:PrincipalTag/project}/*", "arn:aws:s3:::bucket/x")
    # Not even a resource that the text `${...}` or an empty value would match.
    assert not allows("arn:aws:s3:::${aws:PrincipalTag/project}*", "arn:aws:s3:::anything")
    with pytest.raises(Unresolvable):
        substitute("${aws:PrincipalTag/project}", TAGS)


def test_an_unresolvable_variable_in_not_resource_does_not_match_either():
    statement = {"NotResource": "arn:aws:s3:::${aws:PrincipalTag/project}/*"}
    assert not resource_matches(statement, "arn:aws:s3:::other/x", TAGS)


def test_a_multivalued_key_cannot_be_a_variable():
    assert not allows("arn:aws:s3:::bucket/${aws:PrincipalTag/labels}/*", "arn:aws:s3:::bucket/a/x")


def test_a_default_value_stands_in_for_an_absent_key():
    assert substitute("${aws:PrincipalTag/project, 'shared'}", TAGS) == "shared"
    assert substitute("${aws:PrincipalTag/team, 'shared'}", TAGS) == "red"
    assert substitute("${aws:PrincipalTag/project, 'it''s'}", TAGS) == "it's"


def test_special_characters_are_literal_not_wildcards():
    assert allows("arn:aws:s3:::bucket/${*}", "arn:aws:s3:::bucket/*")
    assert not allows("arn:aws:s3:::bucket/${*}", "arn:aws:s3:::bucket/anything")
    assert not allows("arn:aws:s3:::bucket/a${?}", "arn:aws:s3:::bucket/ab")
    assert substitute("${$}", TAGS) == "$"


def test_a_value_is_matched_as_it_is():
    context = {"aws:PrincipalTag/team": "r*"}
    assert allows("arn:aws:s3:::bucket/${aws:PrincipalTag/team}/*", "arn:aws:s3:::bucket/r*/x", context)
    assert not allows("arn:aws:s3:::bucket/${aws:PrincipalTag/team}/*", "arn:aws:s3:::bucket/red/x", context)
    assert pattern("a.b*", {}).fullmatch("a.bcd")
    assert not pattern("a.b*", {}).fullmatch("axbcd")


def test_condition_values_are_resolved_or_the_statement_does_not_match():
    condition = {"StringLike": {"s3:prefix": "${aws:PrincipalTag/team}/*"}}
    assert resolved_condition(condition, TAGS) == {"StringLike": {"s3:prefix": ["red/*"]}}
    assert resolved_condition({"StringEquals": {"k": "${aws:PrincipalTag/project}"}}, TAGS) is None


# --- the stack's boundary shape ----------------------------------------------------------------------

FENCED = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::${aws:PrincipalTag/labellerr-fence-bucket}/"
            "${aws:PrincipalTag/labellerr-fence-prefix}*",
            "Condition": {"StringEquals": {"s3:ResourceAccount": "123456789012"}},
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::${aws:PrincipalTag/labellerr-fence-bucket}/*",
            "Condition": {"Null": {"aws:PrincipalTag/labellerr-fence-prefix": "true"}},
        },
        {"Effect": "Deny", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::acme-*/*"},
    ],
}


def read(key: str, tags: list[dict[str, str]], bucket: str = "acme-data") -> str | None:
    request = S3Request(
        principal_arn="arn:aws:iam::123456789012:user/labellerr/u",
        account_id="123456789012",
        user_name="u",
        user_id="AIDA",
        action="s3:GetObject",
        resource=f"arn:aws:s3:::{bucket}/{key}",
    )
    return refusal(FENCED, request, tags)


BUCKET_TAG = {"Key": "labellerr-fence-bucket", "Value": "acme-data"}


def test_the_boundary_fences_a_tagged_user_to_its_prefix():
    tags = [BUCKET_TAG, {"Key": "labellerr-fence-prefix", "Value": "images/"}]
    assert read("images/cat.png", tags) is None
    refused = read("private/payroll.csv", tags)
    assert refused is not None
    assert "because no permissions boundary allows the s3:GetObject action" in refused
    assert read("images/cat.png", tags, bucket="acme-other") is not None


def test_without_a_prefix_tag_the_boundary_fences_to_the_bucket():
    assert read("anything/at/all", [BUCKET_TAG]) is None
    assert read("x", [BUCKET_TAG], bucket="acme-other") is not None


def test_an_explicit_deny_in_the_boundary_wins():
    tags = [{"Key": "labellerr-fence-bucket", "Value": "other-co"}]
    refused = read("x", tags, bucket="other-co")
    assert refused is not None
    assert refused.endswith("with an explicit deny in a permissions boundary")


def test_an_untagged_user_gets_nothing_from_tag_statements():
    assert read("images/cat.png", []) is not None
