"""The connection's IAM policy: least privilege, built as data, serialized within IAM's size limit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner_core.errors import PolicyTooLarge
from provisioner_core.policy import (
    MANAGED_POLICY_MAX_CHARS,
    POLICY_DOCUMENT_PATTERN,
    build_policy_document,
    policy_size,
    serialize_policy,
)

PARTITIONS = ["aws", "aws-cn", "aws-us-gov"]


def statements_by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


def actions_of(document: dict[str, Any]) -> list[str]:
    actions: list[str] = []
    for statement in document["Statement"]:
        action = statement["Action"]
        actions += [action] if isinstance(action, str) else action
    return actions


@pytest.mark.parametrize("partition", PARTITIONS)
def test_import_policy_statement_by_statement(partition: str) -> None:
    document = build_policy_document(
        partition=partition, bucket="acme-datasets", prefix="images/", access="import"
    )
    bucket = f"arn:{partition}:s3:::acme-datasets"
    assert document["Version"] == "2012-10-17"
    assert document["Statement"] == [
        {
            "Sid": "ListConnectionPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {"StringLike": {"s3:prefix": ["images/*"]}},
        },
        {
            "Sid": "ReadBucketMetadata",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:GetBucketCORS"],
            "Resource": bucket,
        },
        {
            "Sid": "ReadObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": f"{bucket}/images/*",
        },
    ]


@pytest.mark.parametrize("partition", ["aws", "aws-cn"])
def test_import_export_adds_write_and_delete_on_objects_only(partition: str) -> None:
    read_only = build_policy_document(
        partition=partition, bucket="acme-datasets", prefix="a/b/", access="import"
    )
    document = build_policy_document(
        partition=partition, bucket="acme-datasets", prefix="a/b/", access="import_export"
    )
    assert document["Statement"][:-1] == read_only["Statement"]
    assert document["Statement"][-1] == {
        "Sid": "WriteObjects",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:DeleteObject"],
        "Resource": f"arn:{partition}:s3:::acme-datasets/a/b/*",
    }


def test_whole_bucket_lists_without_condition_and_reads_every_object() -> None:
    statements = statements_by_sid(
        build_policy_document(partition="aws", bucket="acme-datasets", prefix="", access="import")
    )
    assert statements["ListConnectionPrefix"] == {
        "Sid": "ListConnectionPrefix",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::acme-datasets",
    }
    assert statements["ReadObjects"]["Resource"] == "arn:aws:s3:::acme-datasets/*"


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        ("import", {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCORS", "s3:GetObject"}),
        (
            "import_export",
            {
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:GetBucketCORS",
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
            },
        ),
    ],
)
def test_grants_exactly_the_listed_actions_never_bucket_writes(access: str, expected: set[str]) -> None:
    document = build_policy_document(
        partition="aws-us-gov", bucket="acme-datasets", prefix="images/", access=access
    )
    actions = actions_of(document)
    assert set(actions) == expected
    assert len(actions) == len(expected)
    assert "s3:putbucketcors" not in {action.lower() for action in actions}
    assert all("*" not in action for action in actions)
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"].startswith("arn:aws-us-gov:s3:::acme-datasets")


@pytest.mark.parametrize("access", ["import", "import_export"])
def test_serialized_policy_round_trips_without_whitespace(access: str) -> None:
    document = build_policy_document(partition="aws", bucket="acme-datasets", prefix="images/", access=access)
    text = serialize_policy(document)
    assert json.loads(text) == document
    assert not any(char.isspace() for char in text)
    assert policy_size(document) == len(text) < len(json.dumps(document, indent=2))


def test_prefix_is_data_not_json_syntax() -> None:
    prefix = 'sp ace/"quoted"\\/donn\u00e9es/'
    document = build_policy_document(partition="aws", bucket="acme-datasets", prefix=prefix, access="import")
    parsed = json.loads(serialize_policy(document))
    assert len(parsed["Statement"]) == 3
    assert statements_by_sid(parsed)["ReadObjects"]["Resource"] == f"arn:aws:s3:::acme-datasets/{prefix}*"
    assert statements_by_sid(parsed)["ListConnectionPrefix"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"{prefix}*"]}
    }
    # Latin-1 is left as it is (IAM's pattern allows it): one character each, readable in the console.
    assert "donn\u00e9es" in serialize_policy(document)


@pytest.mark.parametrize(
    "prefix", ["\u753b\u50cf/2024/", "price\u20ac/", "cats\U0001f431/", "\u00e9t\u00e9/\u753b/"]
)
def test_characters_above_latin_1_reach_iam_as_escapes_of_the_same_prefix(prefix: str) -> None:
    document = build_policy_document(partition="aws", bucket="acme-datasets", prefix=prefix, access="import")
    text = serialize_policy(document)
    assert POLICY_DOCUMENT_PATTERN.fullmatch(text)
    assert max(map(ord, text)) <= 0xFF
    assert json.loads(text) == document
    assert (
        statements_by_sid(json.loads(text))["ReadObjects"]["Resource"]
        == f"arn:aws:s3:::acme-datasets/{prefix}*"
    )
    assert policy_size(document) == len(text)


def test_an_escape_counts_as_its_six_characters() -> None:
    plain = build_policy_document(partition="aws", bucket="acme-datasets", prefix="ab/", access="import")
    cjk = build_policy_document(
        partition="aws", bucket="acme-datasets", prefix="\u753b\u50cf/", access="import"
    )
    emoji = build_policy_document(
        partition="aws", bucket="acme-datasets", prefix="\U0001f431\U0001f431/", access="import"
    )
    # The prefix appears twice in an import policy: the s3:prefix condition and the object resource.
    assert policy_size(cjk) - policy_size(plain) == 2 * (2 * 6 - 2)
    assert policy_size(emoji) - policy_size(plain) == 2 * (2 * 12 - 2)
    assert "\\u753b\\u50cf/" in serialize_policy(cjk)
    assert "\\ud83d\\udc31" in serialize_policy(emoji)


def padded_document(size: int) -> dict[str, Any]:
    """A document whose compact JSON is exactly `size` characters."""
    document: dict[str, Any] = {"Version": "2012-10-17", "Statement": [{"Sid": ""}]}
    document["Statement"][0]["Sid"] = "x" * (size - policy_size(document))
    assert policy_size(document) == size
    return document


def test_policy_at_the_limit_is_accepted() -> None:
    document = padded_document(MANAGED_POLICY_MAX_CHARS)
    assert MANAGED_POLICY_MAX_CHARS == 6144
    assert len(serialize_policy(document)) == 6144


def test_policy_over_the_limit_is_rejected_with_its_size() -> None:
    with pytest.raises(PolicyTooLarge, match=r"6145 characters; IAM allows 6144"):
        serialize_policy(padded_document(MANAGED_POLICY_MAX_CHARS + 1))


def test_largest_valid_request_fits_the_limit() -> None:
    document = build_policy_document(
        partition="aws-us-gov", bucket="b" * 63, prefix="p" * 1023 + "/", access="import_export"
    )
    assert policy_size(document) <= MANAGED_POLICY_MAX_CHARS
    assert json.loads(serialize_policy(document)) == document


def test_oversized_generated_policy_is_rejected() -> None:
    document = build_policy_document(
        partition="aws", bucket="acme-datasets", prefix="p" * 3000 + "/", access="import_export"
    )
    with pytest.raises(PolicyTooLarge, match="IAM allows 6144"):
        serialize_policy(document)


def test_with_the_account_every_s3_statement_holds_only_for_its_buckets() -> None:
    document = build_policy_document(
        partition="aws", bucket="acme-datasets", prefix="images/", access="import_export",
        kms_key_arns=["arn:aws:kms:eu-west-1:123456789012:key/k"], region="eu-west-1", account_id="123456789012",
    )  # fmt: skip
    for statement in document["Statement"]:
        condition = statement.get("Condition", {}).get("StringEquals", {})
        if statement["Sid"] == "UseBucketKmsKeysThroughS3":
            assert "s3:ResourceAccount" not in condition
        else:
            assert condition["s3:ResourceAccount"] == "123456789012", statement["Sid"]
    listing = next(s for s in document["Statement"] if s["Sid"] == "ListConnectionPrefix")
    assert listing["Condition"]["StringLike"] == {"s3:prefix": ["images/*"]}


@pytest.mark.parametrize("access", ["import", "import_export"])
def test_only_an_export_key_may_delete_versions_and_only_of_its_own_probe(access: str) -> None:
    probe = "images/.labellerr-connection-check-sat-1"
    document = build_policy_document(
        partition="aws", bucket="acme-datasets", prefix="images/", access=access, probe_key=probe
    )
    granting = [s for s in document["Statement"] if "s3:DeleteObjectVersion" in s["Action"]]
    if access == "import":
        assert granting == []
        return
    assert [s["Resource"] for s in granting] == [f"arn:aws:s3:::acme-datasets/{probe}"]
