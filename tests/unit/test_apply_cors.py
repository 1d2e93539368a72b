from __future__ import annotations

import time

import pytest

from functions.apply_cors.app import apply_cors
from provisioner_core import lease
from provisioner_core.config import CORS_RULE_ID
from provisioner_core.cors import labellerr_rule
from provisioner_core.errors import BucketBusy, CorsRuleConflict
from tests.unit.conftest import SETTINGS

CUSTOMER_RULE = {"ID": "customer", "AllowedOrigins": ["https://app.acme.com"], "AllowedMethods": ["PUT"]}


def _rules(s3, bucket):
    return s3.get_bucket_cors(Bucket=bucket)["CORSRules"]


def test_bucket_without_cors_gets_exactly_our_rule(s3, dynamodb, bucket, connection):
    result = apply_cors(s3, dynamodb, connection, SETTINGS)
    assert result == {
        "applied": True,
        "rule_id": CORS_RULE_ID,
        "rule_added": True,
        "bucket_had_cors": False,
        "rules_total": 1,
    }
    [rule] = _rules(s3, bucket)
    assert rule["ID"] == CORS_RULE_ID
    assert rule["AllowedOrigins"] == ["https://*.labellerr.com"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD"]
    assert rule["AllowedHeaders"] == ["*"]
    assert rule["MaxAgeSeconds"] == 3600


def test_existing_rules_are_kept_and_ours_appended(s3, dynamodb, bucket, connection):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    result = apply_cors(s3, dynamodb, connection, SETTINGS)
    assert result["rule_added"] is True
    assert result["bucket_had_cors"] is True
    assert [r["ID"] for r in _rules(s3, bucket)] == ["customer", CORS_RULE_ID]


def test_equivalent_rule_is_not_added_twice(s3, dynamodb, bucket, connection):
    apply_cors(s3, dynamodb, connection, SETTINGS)
    again = apply_cors(s3, dynamodb, connection, SETTINGS)
    assert again["rule_added"] is False
    assert len(_rules(s3, bucket)) == 1


def test_our_rule_id_with_other_settings_is_a_conflict_and_nothing_changes(s3, dynamodb, bucket, connection):
    clash = {**labellerr_rule(["https://evil.example"])}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [clash]})
    with pytest.raises(CorsRuleConflict, match=CORS_RULE_ID):
        apply_cors(s3, dynamodb, connection, SETTINGS)
    assert _rules(s3, bucket)[0]["AllowedOrigins"] == ["https://evil.example"]


def test_a_bucket_held_by_another_run_is_busy_and_left_alone(s3, dynamodb, bucket, connection):
    assert lease.try_acquire(dynamodb, bucket, "another-run", table="BucketLeasesTable", clock=time.time)
    with (
        pytest.raises(BucketBusy),
        lease.bucket_lease(dynamodb, bucket, connection["execution_arn"], wait_seconds=0.1),
    ):
        pass
    with pytest.raises(BucketBusy):
        apply_cors_with_short_wait(s3, dynamodb, connection)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)


def test_the_lease_is_released_on_every_path(s3, dynamodb, bucket, connection):
    s3.put_bucket_cors(
        Bucket=bucket, CORSConfiguration={"CORSRules": [labellerr_rule(["https://x.example"])]}
    )
    with pytest.raises(CorsRuleConflict):
        apply_cors(s3, dynamodb, connection, SETTINGS)
    assert dynamodb.scan(TableName="BucketLeasesTable")["Items"] == []


def test_an_expired_lease_is_taken_over(dynamodb, bucket):
    assert lease.try_acquire(dynamodb, bucket, "crashed-run", table="BucketLeasesTable", clock=lambda: 1000.0)
    later = 1000.0 + lease.LEASE_SECONDS + 1
    assert lease.try_acquire(dynamodb, bucket, "next-run", table="BucketLeasesTable", clock=lambda: later)


def apply_cors_with_short_wait(s3, dynamodb, connection):
    original = lease.WAIT_SECONDS
    lease.WAIT_SECONDS = 0.1
    try:
        return apply_cors(s3, dynamodb, connection, SETTINGS)
    finally:
        lease.WAIT_SECONDS = original
