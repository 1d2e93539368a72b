"""Plan before apply through the real state machine and HTTP API: what a plan says, and that it changes nothing.

"Nothing" is checked where it would show: the connection's user, policy and secret (leftovers), the bucket's
CORS, the registry, the lifecycle events, the states entered, and every AWS call the functions made, each of
which must be a read. A plan publishes no event at all, by design: it is not a connection's lifecycle.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner_core import registry
from tests.support.api import http
from tests.support.buckets import CUSTOMER_RULE
from tests.support.executions import history_of, run_flow, start, unique_id, wait_for_execution
from tests.support.residue import cors_rules, leftovers

pytestmark = pytest.mark.flow
PLAN_STATES = ["Receive request", "Dry run?", "Plan onboarding", "Plan made?", "Plan ready"]
READ_VERBS = ("Get", "List", "Describe", "Head")
SHADOWING_RULE = {
    "ID": "customer-viewer",
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET"],
    "AllowedHeaders": ["*"],
}


def dry_run(stack: Any, sfn: Any, request: dict[str, Any]) -> tuple[dict[str, Any], list[str], str]:
    """(description, states entered, execution ARN) of a dry run started with `request`."""
    stack.settle()  # the test's bucket set-up is not seconds old
    arn = start(sfn, stack.state_machine_arn, {**request, "dry_run": True}, name=unique_id("plan"))
    described = wait_for_execution(sfn, arn, deadline_s=30)
    history = history_of(sfn, arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    return described, entered, arn


def failed(plan: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c.get("would_fail_with", "") for c in plan["checks"] if c["outcome"] == "failed"}


def assert_nothing_changed(
    stack: Any, iam: Any, secrets: Any, s3: Any, connection_id: str, bucket: str
) -> None:
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) == [CUSTOMER_RULE]
    table = stack.tables["ConnectionsTable"]
    assert registry.get(stack.client("dynamodb"), connection_id, table) is None
    assert [e for e in stack.events() if (e["detail"] or {}).get("connection_id") == connection_id] == []


def only_reads(stack: Any, since: int) -> None:
    calls = stack.function_calls[since:]
    assert calls, "the plan made no AWS call at all"
    assert {function for function, _, _ in calls} <= {"PlanOnboardingFunction", "ApiFunction"}
    # The API's one call that is not a read is its Invoke of Plan onboarding.
    writes = [(f, service, op) for f, service, op in calls if not op.startswith(READ_VERBS)]
    writes = [call for call in writes if call != ("ApiFunction", "lambda", "Invoke")]
    assert writes == []


@pytest.fixture
def customer_bucket(stack: Any, s3: Any, bucket: str) -> str:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    stack.settle()  # the customer's rule is not seconds old
    return bucket


def test_a_dry_run_ends_with_the_plan_and_changes_nothing(stack, sfn, iam, secrets, s3, customer_bucket):
    connection_id = unique_id("dry")
    stack.set_faults([])
    since, invoked = len(stack.function_calls), len(stack.invocations)
    request = {
        "connection_name": "Dry",
        "connection_id": connection_id,
        "s3_uri": f"{customer_bucket}/images/",
    }
    described, entered, arn = dry_run(stack, sfn, request)
    assert described["status"] == "SUCCEEDED"
    assert entered == PLAN_STATES
    assert stack.invocations[invoked:] == ["PlanOnboardingFunction"]
    plan = json.loads(described["output"])
    assert plan["would_succeed"] is True, plan["failed_checks"]
    assert plan["iam_user"]["arn"].endswith(f":user/labellerr/labellerr-{connection_id}")
    assert plan["cors"]["before"] == [CUSTOMER_RULE]
    assert [r.get("ID") for r in plan["cors"]["after"]] == ["customer-upload", f"labellerr-{connection_id}"]
    assert plan["bucket"]["region"] == stack.region
    # The boundary is a stack resource in AWS (read there, tests/unit); the local stack creates no IAM policy.
    assert plan["permissions_boundary"]["status"] in ("read", "not_found")
    assert plan["permissions_boundary"]["arn"] == plan["iam_user"]["permissions_boundary_arn"]
    only_reads(stack, since)
    assert_nothing_changed(stack, iam, secrets, s3, connection_id, customer_bucket)
    assert [e for e in stack.events() if (e["detail"] or {}).get("execution_arn") == arn] == []


def test_post_connections_plan_answers_the_same_plan_and_changes_nothing(
    stack, sfn, iam, secrets, s3, customer_bucket
):
    connection_id = unique_id("api")
    request = {
        "connection_name": "Api",
        "connection_id": connection_id,
        "s3_uri": f"{customer_bucket}/images/",
    }
    stack.set_faults([])
    since, invoked = len(stack.function_calls), len(stack.invocations)
    status, plan = http(stack, "POST", "/connections/plan", request)
    assert status == 200, plan
    assert stack.invocations[invoked:] == ["ApiFunction", "PlanOnboardingFunction"]
    only_reads(stack, since)
    assert_nothing_changed(stack, iam, secrets, s3, connection_id, customer_bucket)
    described, _, _ = dry_run(stack, sfn, request)
    from_machine = json.loads(described["output"])
    for part in ("connection", "iam_user", "policy", "secret", "cors", "bucket", "checks", "would_succeed"):
        assert plan[part] == from_machine[part], part


def test_the_plan_reports_a_missing_bucket(stack, sfn, iam, secrets):
    connection_id = unique_id("missing")
    described, entered, _ = dry_run(
        stack,
        sfn,
        {"connection_name": "M", "connection_id": connection_id, "bucket": f"nope-{connection_id}"},
    )
    plan = json.loads(described["output"])
    assert described["status"] == "SUCCEEDED"
    assert entered == PLAN_STATES
    assert failed(plan) == {"bucket_exists": "ValidateRequest.BucketNotFound"}
    assert leftovers(iam, secrets, connection_id) == []


def test_the_plan_reports_an_id_in_use(stack, sfn, iam, secrets, bucket):
    connection_id = unique_id("taken")
    request = {
        "connection_name": "Taken",
        "connection_id": connection_id,
        "bucket": bucket,
        "prefix": "images/",
    }
    assert run_flow(stack, sfn, request).status == "SUCCEEDED"
    existing = leftovers(iam, secrets, connection_id)
    described, _, _ = dry_run(stack, sfn, request)
    plan = json.loads(described["output"])
    assert failed(plan) == {
        "connection_id_free": "ConnectionAlreadyExists",
        "iam_user_free": "CreateUser.UserAlreadyExists",
        "policy_free": "CreatePolicy.PolicyAlreadyExists",
        "secret_free": "IssueAccessKey.SecretAlreadyExists",
    }
    # The existing connection was not touched.
    assert leftovers(iam, secrets, connection_id) == existing
    record = registry.get(stack.client("dynamodb"), connection_id, stack.tables["ConnectionsTable"])
    assert record is not None
    assert record["status"] == "ACTIVE"


def test_the_plan_reports_a_cors_rule_conflict(stack, sfn, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [SHADOWING_RULE]})
    connection_id = unique_id("cors")
    described, _, _ = dry_run(
        stack, sfn, {"connection_name": "C", "connection_id": connection_id, "bucket": bucket}
    )
    plan = json.loads(described["output"])
    assert failed(plan) == {"cors_rule_order": "VerifyAccess.VerificationFailed"}
    assert cors_rules(s3, bucket) == [SHADOWING_RULE]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"connection_name": "x"},
        {"connection_name": "", "s3_uri": "Bad_Bucket/x*", "access": "all", "extra": 1},
        {"connection_name": "x", "bucket": "acme-plan", "prefix": "../etc/"},
        {"connection_name": "x", "bucket": "acme-plan", "dry_run": True},
    ],
)
def test_bad_input_gets_the_same_400_as_post(stack, body):
    invoked = len(stack.invocations)
    post = http(stack, "POST", "/connections", body)
    plan = http(stack, "POST", "/connections/plan", body)
    assert post[0] == 400
    assert plan == post
    # Neither door went further than the API function.
    assert set(stack.invocations[invoked:]) == {"ApiFunction"}


def test_a_bad_dry_run_fails_by_name_without_rolling_back_or_publishing(stack, sfn):
    body = {"connection_name": "", "s3_uri": "Bad_Bucket/x*", "access": "all", "extra": 1}
    described, entered, arn = dry_run(stack, sfn, body)
    assert described["status"] == "FAILED"
    assert described["error"] == "PlanOnboarding.InvalidRequest"
    cause = json.loads(described["cause"])
    assert cause["failed_step"] == "Plan onboarding"
    assert cause["message"].startswith("Invalid request: ")
    assert {"connection_name", "s3_uri", "access", "extra"} <= {
        part.split(":")[0].strip() for part in cause["message"].removeprefix("Invalid request: ").split("; ")
    }
    assert entered == ["Receive request", "Dry run?", "Plan onboarding", "Plan made?", "Plan refused"]
    assert [e for e in stack.events() if (e["detail"] or {}).get("execution_arn") == arn] == []


def test_a_read_that_keeps_failing_fails_the_plan_and_still_changes_nothing(
    stack, sfn, iam, secrets, s3, faults, customer_bucket
):
    connection_id = unique_id("fault")
    request = {"connection_name": "F", "connection_id": connection_id, "bucket": customer_bucket}
    faults(["iam:GetAccountSummary@PlanOnboardingFunction"])
    described, entered, _ = dry_run(stack, sfn, request)
    assert described["status"] == "FAILED"
    assert described["error"] == "PlanOnboarding.Failed"
    assert entered[-1] == "Plan failed"
    assert "Rollback" not in entered
    status, body = http(stack, "POST", "/connections/plan", request)
    assert status == 503
    assert body["errors"][0]["message"] == "the plan could not be made (AwsCallFailed); retry shortly"
    assert "iam:GetAccountSummary" in stack.injected_faults
    assert_nothing_changed(stack, iam, secrets, s3, connection_id, customer_bucket)


def test_a_bucket_in_another_region_is_planned_with_that_regions_reads(stack, sfn, s3):
    name = unique_id("acme-eu")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    described, _, _ = dry_run(
        stack, sfn, {"connection_name": "Eu", "connection_id": unique_id("eu"), "bucket": name}
    )
    plan = json.loads(described["output"])
    assert plan["would_succeed"] is True, plan["failed_checks"]
    assert plan["bucket"]["region"] == "eu-west-1"
    assert plan["cors"]["before"] == [CUSTOMER_RULE]
