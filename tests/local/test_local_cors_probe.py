"""Verify access's CORS checks against the local stack's S3, which answers as S3 does (provisioner_local.s3_cors).

The probe and the emulator share no code, so each is a check on the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from provisioner_core.cors_probe import cors_checks, failures, probe_origins
from provisioner_local.emulator import LocalStack

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
BUCKET = "cors-probe-local"
KEY = "images/cat.png"
RULE_ID = "labellerr-probe-local"
OURS = {
    "ID": RULE_ID,
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"],
    "MaxAgeSeconds": 3600,
}
USER = "cors-probe-reader"


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE, enforce_iam=True) as running:
        admin = running.client("s3")
        admin.create_bucket(Bucket=BUCKET)
        admin.put_object(Bucket=BUCKET, Key=KEY, Body=b"\x89PNG")
        iam = running.client("iam")
        iam.create_user(UserName=USER)
        iam.put_user_policy(
            UserName=USER,
            PolicyName="read",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{BUCKET}/images/*",
                        }
                    ],
                }
            ),
        )
        key = iam.create_access_key(UserName=USER)["AccessKey"]
        running.reader = boto3.client(
            "s3",
            endpoint_url=running.endpoint_url,
            region_name=running.region,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        try:
            yield running
        finally:
            iam.delete_access_key(UserName=USER, AccessKeyId=key["AccessKeyId"])
            iam.delete_user_policy(UserName=USER, PolicyName="read")
            iam.delete_user(UserName=USER)


def run_checks(stack, rules):
    admin = stack.client("s3")
    if rules:
        admin.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": rules})
    else:
        admin.delete_bucket_cors(Bucket=BUCKET)
    checks = cors_checks(
        stack.reader,
        bucket=BUCKET,
        key=KEY,
        region=stack.region,
        origins=probe_origins(["https://*.labellerr.com"]),
        rules=rules,
        rule_id=RULE_ID,
        object_exists=True,
    )
    return {check["operation"]: check for check in checks}


def test_our_rule_alone_passes_every_check(stack):
    checks = run_checks(stack, [OURS])
    assert {op: c["outcome"] for op, c in checks.items()} == {
        "cors:Preflight": "passed",
        "cors:GetObject": "passed",
        "cors:RuleOrder": "passed",
        "cors:ForeignOriginRefused": "passed",
    }


def test_no_configuration_fails_the_preflight_and_the_get(stack):
    checks = run_checks(stack, [])
    assert checks["cors:Preflight"]["outcome"] == "failed"
    assert "403" in checks["cors:Preflight"]["detail"]
    assert checks["cors:GetObject"]["outcome"] == "failed"


def test_a_customer_rule_before_ours_is_found_on_the_wire_and_in_the_rules(stack):
    customer = {"ID": "acme-app", "AllowedOrigins": ["https://*.labellerr.com"], "AllowedMethods": ["GET"]}
    checks = run_checks(stack, [customer, OURS])
    # The preflight asks for `range`, which the customer's rule lacks, so S3 goes on to ours...
    assert checks["cors:Preflight"]["outcome"] == "passed"
    # ...but the GET itself is answered by the customer's rule, which exposes nothing.
    assert checks["cors:GetObject"]["outcome"] == "failed"
    assert "Content-Range" in checks["cors:GetObject"]["detail"]
    assert checks["cors:RuleOrder"]["outcome"] == "failed"
    assert "'acme-app'" in checks["cors:RuleOrder"]["detail"]


def test_an_over_broad_rule_of_ours_lets_the_foreign_origin_in(stack):
    broad = {**OURS, "AllowedOrigins": ["https://pro.labellerr.com*"]}
    checks = run_checks(stack, [broad])
    assert checks["cors:ForeignOriginRefused"]["outcome"] == "failed"
    assert [c["operation"] for c in failures(list(checks.values()))] == ["cors:ForeignOriginRefused"]
