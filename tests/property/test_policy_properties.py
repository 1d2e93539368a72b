"""Properties of the policy built for every accepted request: it never reaches beyond bucket/prefix."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from provisioner_core.errors import InvalidRequest
from provisioner_core.policy import (
    MANAGED_POLICY_MAX_CHARS,
    build_policy_document,
    policy_size,
    serialize_policy,
)
from provisioner_core.request import parse_request
from tests.property.strategies import PARTITIONS, location_requests, mostly, raw_requests

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
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
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
