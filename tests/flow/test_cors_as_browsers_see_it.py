"""Issue "CORS as a browser sees it": Verify access sends the browser's preflight and reads S3's answer
(the local stack evaluates CORS as S3 does), and a bucket whose CORS would not serve Labellerr fails the run."""

from __future__ import annotations

import pytest

from tests.support.buckets import CUSTOMER_RULE
from tests.support.executions import run_flow, unique_id
from tests.support.residue import cors_rules, leftovers

pytestmark = pytest.mark.flow

# A customer's rule for Labellerr's origins that S3 picks first (first match wins) and that grants too
# little: no HEAD, no `range` header, nothing exposed. Our rule after it would never answer.
SHADOWING_RULE = {
    "ID": "customer-labellerr",
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET"],
}


def test_every_browser_check_is_in_the_verification(stack, sfn, s3, bucket):
    run = run_flow(
        stack,
        sfn,
        {"connection_name": "c", "connection_id": unique_id(), "bucket": bucket, "prefix": "images/"},
    )
    assert run.status == "SUCCEEDED", run.cause
    checks = {c["operation"]: c for c in run.output["verification"]["checks"]}
    assert checks["cors:Preflight"]["outcome"] == "passed"
    assert "https://pro.labellerr.com" in checks["cors:Preflight"]["detail"]
    assert checks["cors:ForeignOriginRefused"]["outcome"] == "passed"


def test_a_customer_rule_that_shadows_ours_fails_the_run_and_rolls_back(stack, sfn, s3, iam, secrets, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE, SHADOWING_RULE]})
    connection_id = unique_id()
    run = run_flow(
        stack,
        sfn,
        {"connection_name": "c", "connection_id": connection_id, "bucket": bucket, "prefix": "images/"},
    )
    assert run.status == "FAILED"
    assert run.error == "VerifyAccess.VerificationFailed", run.cause
    message = run.cause_json["message"]
    assert "CORS would not serve Labellerr" in message
    assert "customer-labellerr" in message
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) == [CUSTOMER_RULE, SHADOWING_RULE]


def test_with_apply_cors_false_the_customers_configuration_is_reported_as_warnings(stack, sfn, bucket):
    run = run_flow(
        stack,
        sfn,
        {
            "connection_name": "c",
            "connection_id": unique_id(),
            "bucket": bucket,
            "prefix": "images/",
            "apply_cors": False,
        },
    )
    assert run.status == "SUCCEEDED", run.cause
    checks = {c["operation"]: c for c in run.output["verification"]["checks"]}
    # No CORS on the bucket: S3 refuses the preflight, which would break Labellerr's viewer. A warning only.
    assert checks["cors:Preflight"]["outcome"] == "warning"
    assert "s3:GetBucketCors" not in checks
