from __future__ import annotations

import time

import pytest

from functions.apply_cors.app import apply_cors
from provisioner_core import lease
from provisioner_core.cors import labellerr_rule, rule_id_for
from provisioner_core.errors import BucketBusy
from provisioner_core.lease import lease_holder
from tests.unit.conftest import SETTINGS

CORS_RULE_ID = rule_id_for("satellite-images")

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


def test_a_retry_after_the_rule_took_effect_reports_it_as_its_own(s3, dynamodb, bucket, connection):
    first = apply_cors(s3, dynamodb, connection, SETTINGS)
    again = apply_cors(s3, dynamodb, connection, SETTINGS)
    assert again == first
    assert again["rule_added"] is True
    assert len(_rules(s3, bucket)) == 1


def test_a_customer_rule_with_the_same_effect_is_relied_on(s3, dynamodb, bucket, connection):
    theirs = {**labellerr_rule(["https://*.labellerr.com"], "customer-labelling")}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [theirs]})
    result = apply_cors(s3, dynamodb, connection, SETTINGS)
    assert (result["rule_id"], result["rule_added"]) == ("customer-labelling", False)
    assert [r["ID"] for r in _rules(s3, bucket)] == ["customer-labelling"]


def test_connections_on_one_bucket_each_get_their_own_rule(s3, dynamodb, bucket, connection):
    other = {**connection, "connection_id": "other-images"}
    apply_cors(s3, dynamodb, connection, SETTINGS)
    apply_cors(s3, dynamodb, other, SETTINGS)
    assert [r["ID"] for r in _rules(s3, bucket)] == [CORS_RULE_ID, rule_id_for("other-images")]


def test_a_bucket_held_by_another_run_is_busy_and_left_alone(s3, dynamodb, bucket, connection):
    assert lease.try_acquire(dynamodb, bucket, "another-run", table="BucketLeasesTable", clock=time.time)
    with (
        pytest.raises(BucketBusy),
        lease.bucket_lease(dynamodb, bucket, lease_holder(connection["connection_id"]), wait_seconds=0.1),
    ):
        pass
    with pytest.raises(BucketBusy):
        apply_cors_with_short_wait(s3, dynamodb, connection)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)


def test_the_lease_is_released_on_every_path(s3, dynamodb, bucket, connection):
    apply_cors(s3, dynamodb, connection, SETTINGS)
    assert dynamodb.scan(TableName="BucketLeasesTable")["Items"] == []
    full = [
        {"ID": f"c{i}", "AllowedOrigins": [f"https://{i}.example"], "AllowedMethods": ["GET"]}
        for i in range(100)
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": full})
    with pytest.raises(Exception, match="100 CORS rules"):
        apply_cors(s3, dynamodb, {**connection, "connection_id": "another"}, SETTINGS)
    assert dynamodb.scan(TableName="BucketLeasesTable")["Items"] == []


def test_a_lease_the_same_connection_could_not_release_is_taken_over_at_once(
    s3, dynamodb, bucket, connection
):
    holder = lease_holder(connection["connection_id"])
    assert lease.try_acquire(dynamodb, bucket, holder, table="BucketLeasesTable", clock=time.time)
    assert apply_cors_with_short_wait(s3, dynamodb, connection)["rule_id"] == CORS_RULE_ID


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
