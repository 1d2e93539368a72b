"""Properties of the policy built for every accepted request: it never reaches beyond bucket/prefix."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from provisioner_core.errors import InvalidRequest
from provisioner_core.policy import (
    MANAGED_POLICY_MAX_CHARS,
    POLICY_DOCUMENT_PATTERN,
    build_policy_document,
    policy_size,
    policy_text,
    serialize_policy,
)
from provisioner_core.request import parse_request
from tests.property.strategies import PARTITIONS, location_requests, mostly, raw_requests, s3_keys

READ_ACTIONS = {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCORS", "s3:GetObject"}
WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject"}
PROPERTY = settings(max_examples=400, deadline=None)
partitions = st.sampled_from(PARTITIONS)
requests_for_policies = mostly(location_requests(), raw_requests())


def accepted_location(raw: Any) -> tuple[str, str, str] | None:
    """(bucket, prefix, access) of an accepted request; None when it is rejected."""
    try:
        request = parse_request(raw)
    except InvalidRequest:
        event("rejected")
        return None
    event("accepted")
    bucket, prefix = request.location()
    return bucket, prefix, request.access


def resources_and_actions(document: dict[str, Any]) -> list[tuple[str, set[str]]]:
    pairs = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        pairs += [
            (resource, {actions} if isinstance(actions, str) else set(actions))
            for resource in ([resources] if isinstance(resources, str) else resources)
        ]
    return pairs


@PROPERTY
@given(requests_for_policies, partitions)
def test_the_policy_of_an_accepted_request_reaches_only_its_bucket_and_prefix(
    raw: Any, partition: str
) -> None:
    location = accepted_location(raw)
    if location is None:
        return
    bucket, prefix, access = location
    assert prefix == "" or prefix.endswith("/"), prefix
    assert not prefix.startswith("/"), prefix
    document = build_policy_document(partition=partition, bucket=bucket, prefix=prefix, access=access)
    bucket_resource = f"arn:{partition}:s3:::{bucket}"
    objects_under = f"{bucket_resource}/{prefix}"
    granted: set[str] = set()
    for resource, actions in resources_and_actions(document):
        granted |= actions
        assert "?" not in resource, resource
        assert "$" not in resource, resource
        assert "${" not in resource, resource
        if resource == bucket_resource:
            assert actions <= {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketCORS"}, actions
            continue
        # Every other resource is an object resource: under bucket/prefix, one wildcard, at the end.
        assert resource.startswith(objects_under), (resource, objects_under)
        assert resource == f"{objects_under}*", resource
        assert resource.count("*") == 1, resource
        assert actions <= {"s3:GetObject", *WRITE_ACTIONS}, actions
    assert granted == (READ_ACTIONS | WRITE_ACTIONS if access == "import_export" else READ_ACTIONS)
    (listing,) = [s for s in document["Statement"] if s["Action"] == "s3:ListBucket"]
    assert listing["Resource"] == bucket_resource
    if prefix:
        assert listing["Condition"] == {"StringLike": {"s3:prefix": [prefix + "*"]}}
    else:
        assert "Condition" not in listing
    # The document is plain data that survives JSON intact, in the form IAM receives it.
    text = policy_text(document)
    assert json.loads(text) == document
    assert "${" not in text


@settings(max_examples=200, deadline=None)
@given(requests_for_policies, partitions)
@example(
    {"connection_name": "Quotes", "bucket": "a" * 63, "prefix": '"' * 1023, "access": "import_export"},
    "aws-us-gov",
)
def test_the_policy_of_an_accepted_request_serializes_within_iam_limits(raw: Any, partition: str) -> None:
    location = accepted_location(raw)
    if location is None:
        return
    bucket, prefix, access = location
    document = build_policy_document(partition=partition, bucket=bucket, prefix=prefix, access=access)
    size = policy_size(document)
    assert size <= MANAGED_POLICY_MAX_CHARS, f"{size} characters for prefix of {len(prefix)} ({access})"
    assert json.loads(serialize_policy(document)) == document


@settings(max_examples=400, deadline=None)
@given(s3_keys, st.sampled_from(("import", "import_export")), partitions)
@example("\u753b\u50cf/2024/", "import", "aws")
@example("\U0001f431" * 256, "import", "aws-us-gov")
@example("\u20ac" * 341, "import_export", "aws")
def test_any_s3_key_as_prefix_is_refused_as_a_400_or_reaches_iam_as_a_document_it_accepts(
    key: str, access: str, partition: str
) -> None:
    """IAM's PolicyDocument pattern holds for every prefix the request accepts, and the prefix survives."""
    raw = {"connection_name": "Keys", "bucket": "acme-datasets", "prefix": key, "access": access}
    try:
        request = parse_request(raw)
    except InvalidRequest as invalid:
        refusal = invalid.errors
    else:
        refusal = []
    if refusal:
        event("rejected")
        assert [problem["field"] for problem in refusal] == ["prefix"], refusal
        return
    event("accepted")
    _, prefix = request.location()
    assert prefix == key.strip("/") + "/"
    document = build_policy_document(
        partition=partition, bucket="acme-datasets", prefix=prefix, access=access, account_id="123456789012"
    )
    text = serialize_policy(document)  # never PolicyTooLarge for an accepted request
    assert POLICY_DOCUMENT_PATTERN.fullmatch(text), text
    assert len(text) <= MANAGED_POLICY_MAX_CHARS
    statements = {statement["Sid"]: statement for statement in json.loads(text)["Statement"]}
    assert statements["ReadObjects"]["Resource"] == f"arn:{partition}:s3:::acme-datasets/{prefix}*"
    assert statements["ListConnectionPrefix"]["Condition"]["StringLike"]["s3:prefix"] == [f"{prefix}*"]
