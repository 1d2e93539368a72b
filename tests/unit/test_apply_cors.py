from __future__ import annotations

import pytest

from functions.apply_cors.app import apply_cors
from provisioner_core.config import CORS_RULE_ID
from provisioner_core.cors import labellerr_rule
from provisioner_core.errors import CorsRuleConflict
from tests.unit.conftest import SETTINGS

CUSTOMER_RULE = {"ID": "customer", "AllowedOrigins": ["https://app.acme.com"], "AllowedMethods": ["PUT"]}


def _rules(s3, bucket):
    return s3.get_bucket_cors(Bucket=bucket)["CORSRules"]


def test_bucket_without_cors_gets_exactly_our_rule(s3, bucket, connection):
    result = apply_cors(s3, connection, SETTINGS)
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


def test_existing_rules_are_kept_and_ours_appended(s3, bucket, connection):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    result = apply_cors(s3, connection, SETTINGS)
    assert result["rule_added"] is True
    assert result["bucket_had_cors"] is True
    assert [r["ID"] for r in _rules(s3, bucket)] == ["customer", CORS_RULE_ID]


def test_equivalent_rule_is_not_added_twice(s3, bucket, connection):
    apply_cors(s3, connection, SETTINGS)
    again = apply_cors(s3, connection, SETTINGS)
    assert again["rule_added"] is False
    assert len(_rules(s3, bucket)) == 1


def test_our_rule_id_with_other_settings_is_a_conflict_and_nothing_changes(s3, bucket, connection):
    clash = {**labellerr_rule(["https://evil.example"])}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [clash]})
    with pytest.raises(CorsRuleConflict, match=CORS_RULE_ID):
        apply_cors(s3, connection, SETTINGS)
    assert _rules(s3, bucket)[0]["AllowedOrigins"] == ["https://evil.example"]
