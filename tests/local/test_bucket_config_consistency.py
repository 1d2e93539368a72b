"""A bucket's CORS configuration lags its writes, as S3's bucket configuration does (eventual consistency)."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner_local.emulator import LocalStack, LocalStackError

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
ORIGIN = "https://pro.labellerr.com"


def _rule(rule_id: str) -> dict[str, Any]:
    return {"ID": rule_id, "AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(template_path=FIXTURE_TEMPLATE, bucket_config_delay="2") as running:
        yield running


@pytest.fixture
def bucket(stack: LocalStack) -> str:
    name = f"lagging-{uuid.uuid4().hex[:12]}"
    stack.client("s3").create_bucket(Bucket=name)
    return name


def _rule_ids(stack: LocalStack, bucket: str) -> list[str]:
    s3 = stack.client("s3")
    try:
        return [r["ID"] for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]]
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchCORSConfiguration":
            raise
        return []


def _preflight(stack: LocalStack, bucket: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - the local stack's http endpoint
        f"{stack.endpoint_url}/{bucket}/images/cat.png",
        method="OPTIONS",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - the local stack
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_read_right_after_a_put_sees_the_configuration_before_it_until_the_delay_has_passed(stack, bucket):
    s3 = stack.client("s3")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_rule("first")]})
    assert _rule_ids(stack, bucket) == []
    assert _preflight(stack, bucket) == 403
    LocalStack.clock.skip(2)
    assert _rule_ids(stack, bucket) == ["first"]
    assert _preflight(stack, bucket) == 200


def test_a_second_write_inside_the_window_never_shows_an_older_configuration_than_before(stack, bucket):
    s3 = stack.client("s3")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_rule("first")]})
    LocalStack.clock.skip(2)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_rule("second")]})
    LocalStack.clock.skip(1)
    s3.delete_bucket_cors(Bucket=bucket)
    # Still "first": the delete's own delay restarts, and nothing newer than what was visible shows.
    assert _rule_ids(stack, bucket) == ["first"]
    LocalStack.clock.skip(2)
    assert _rule_ids(stack, bucket) == []
    assert _preflight(stack, bucket) == 403


def test_settle_makes_every_write_visible_at_once(stack, bucket):
    stack.client("s3").put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [_rule("set")]})
    stack.settle()
    assert _rule_ids(stack, bucket) == ["set"]


def test_off_unless_asked_and_a_bad_spec_fails_before_anything_starts():
    assert LocalStack(template_path=FIXTURE_TEMPLATE).bucket_config is None
    with pytest.raises(LocalStackError, match="--bucket-config-delay"):
        LocalStack(template_path=FIXTURE_TEMPLATE, bucket_config_delay="soon")
