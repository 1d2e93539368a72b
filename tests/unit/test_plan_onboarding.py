"""Plan onboarding against moto: every failing check it promises, and that a plan writes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, get_type_hints

import boto3
import pytest

from functions.plan_onboarding.app import Clients, plan_onboarding, refusal
from provisioner_core import registry
from provisioner_core.cors import MAX_CORS_RULES
from provisioner_core.errors import InvalidRequest
from provisioner_core.plan import Check, Plan
from provisioner_core.policy import connection_policy_document, serialize_policy
from tests.unit.conftest import SETTINGS

ACCOUNT = "123456789012"
EXECUTION_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:onboard:plan-1"
SHADOWING_RULE = {
    "ID": "customer-viewer",
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET"],
    "AllowedHeaders": ["*"],
}


class SummaryOverride:
    """The IAM client with GetAccountSummary answering `summary`: moto's account is never near a quota."""

    def __init__(self, iam: Any, summary: dict[str, int]) -> None:
        self._iam, self._summary = iam, summary

    def __getattr__(self, name: str) -> Any:
        return getattr(self._iam, name)

    def get_account_summary(self) -> dict[str, Any]:
        return {"SummaryMap": {**self._iam.get_account_summary()["SummaryMap"], **self._summary}}


class RequesterPays:
    """S3 with Requester Pays on: moto keeps no request-payment setting (the local stack emulates it)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def get_bucket_request_payment(self, Bucket: str) -> dict[str, str]:  # noqa: N803 - boto3's spelling
        return {"Payer": "Requester"}


@pytest.fixture
def clients(s3: Any, iam: Any, secrets: Any, dynamodb: Any) -> Clients:
    return Clients(s3=s3, iam=iam, secrets=secrets, dynamodb=dynamodb, kms=boto3.client("kms"))


def plan_of(clients: Clients, **request: Any) -> Plan:
    body = {"connection_name": "Satellite images", "connection_id": "sat-1", **request}
    return plan_onboarding(clients, body, EXECUTION_ARN, ACCOUNT, SETTINGS)


def checks(plan: Plan) -> dict[str, Check]:
    found: dict[str, Check] = {}
    for each in plan["checks"]:
        # cors_rule_order repeats per probe origin: the first failed one is what the run would hit.
        if each["check"] not in found or each["outcome"] == "failed":
            found[each["check"]] = each
    return found


def nothing_written(clients: Clients, bucket: str | None) -> None:
    assert clients.iam.list_users()["Users"] == []
    assert clients.iam.list_policies(Scope="Local")["Policies"] == []
    assert clients.secrets.list_secrets()["SecretList"] == []
    assert clients.dynamodb.scan(TableName="ConnectionsTable")["Items"] == []
    if bucket is not None:
        with pytest.raises(clients.s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
            clients.s3.get_bucket_cors(Bucket=bucket)


def test_a_plan_names_everything_the_run_would_create_and_creates_nothing(clients, bucket):
    plan = plan_of(clients, s3_uri=f"{bucket}/images/")
    assert plan["would_succeed"] is True, plan["failed_checks"]
    assert plan["iam_user"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/labellerr/labellerr-sat-1"
    assert plan["policy"]["arn"] == f"arn:aws:iam::{ACCOUNT}:policy/labellerr/labellerr-sat-1"
    assert plan["secret"]["name"] == "labellerr/connections/sat-1"
    assert plan["secret"]["arn_prefix"].endswith(":secret:labellerr/connections/sat-1-")
    # The very document Create policy would create, from the same builder and the same findings.
    connection = {
        "connection_id": "sat-1",
        "bucket": bucket,
        "prefix": "images/",
        "access": "import",
        "region": "us-east-1",
    }
    expected = connection_policy_document(connection, partition="aws", account_id=ACCOUNT)
    assert plan["policy"]["document"] == expected
    assert plan["cors"]["before"] == []
    assert [rule["ID"] for rule in plan["cors"]["after"]] == ["labellerr-sat-1"]
    assert plan["bucket"] == {
        "exists": True,
        "region": "us-east-1",
        "encryption": {"type": "AES256", "objects_checked": 1, "customer_kms_key_arns": []},
        "requester_pays": "no",
        "bucket_policy": {"status": "none"},
    }
    assert plan["account"]["iam_users_quota"] == 5000
    assert plan["created"] == []
    assert "secret_access_key" not in json.dumps(plan)
    nothing_written(clients, bucket)


def test_the_plan_has_exactly_the_documented_fields(clients, bucket):
    assert set(plan_of(clients, bucket=bucket)) == set(get_type_hints(Plan))


def test_a_missing_bucket_is_a_failed_check_and_the_rest_is_still_planned(clients):
    plan = plan_of(clients, bucket="acme-missing")
    found = checks(plan)
    assert found["bucket_exists"]["outcome"] == "failed"
    assert found["bucket_exists"]["would_fail_with"] == "ValidateRequest.BucketNotFound"
    assert plan["failed_checks"] == ["bucket_exists"]
    assert plan["bucket"] == {"exists": False, "region": None}
    assert plan["cors"]["before"] is None
    assert plan["iam_user"]["name"] == "labellerr-sat-1"
    nothing_written(clients, None)


def test_an_id_in_use_fails_in_the_registry_and_for_the_names(clients, bucket):
    registry.claim(clients.dynamodb, {"connection_id": "sat-1", "execution_arn": "arn:x:y:z:1:other"})
    clients.iam.create_user(UserName="labellerr-sat-1", Path="/labellerr/")
    plan = plan_of(clients, s3_uri=f"{bucket}/images/")
    found = checks(plan)
    assert found["connection_id_free"]["outcome"] == "failed"
    assert found["connection_id_free"]["would_fail_with"] == "ConnectionAlreadyExists"
    assert "PROVISIONING" in found["connection_id_free"]["detail"]
    assert found["iam_user_free"]["would_fail_with"] == "CreateUser.UserAlreadyExists"
    assert found["policy_free"]["outcome"] == found["secret_free"]["outcome"] == "passed"


def test_a_freed_id_is_free_again(clients, bucket):
    registry.claim(clients.dynamodb, {"connection_id": "sat-1", "execution_arn": "arn:x:y:z:1:other"})
    clients.dynamodb.update_item(
        TableName="ConnectionsTable",
        Key={"connection_id": {"S": "sat-1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "DELETED"}},
    )
    assert checks(plan_of(clients, s3_uri=f"{bucket}/images/"))["connection_id_free"]["outcome"] == "passed"


def test_a_customer_rule_that_answers_first_and_grants_less_is_a_cors_conflict(clients, bucket):
    clients.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [SHADOWING_RULE]})
    plan = plan_of(clients, s3_uri=f"{bucket}/images/")
    found = checks(plan)
    assert found["cors_rule_order"]["outcome"] == "failed"
    assert found["cors_rule_order"]["would_fail_with"] == "VerifyAccess.VerificationFailed"
    assert "customer-viewer" in found["cors_rule_order"]["detail"]
    assert [r.get("ID") for r in plan["cors"]["after"]] == ["customer-viewer", "labellerr-sat-1"]
    # Nothing changed on the bucket.
    rules = clients.s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [r.get("ID") for r in rules] == ["customer-viewer"]


def test_with_apply_cors_false_the_same_conflict_is_a_warning(clients, bucket):
    clients.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [SHADOWING_RULE]})
    plan = plan_of(clients, s3_uri=f"{bucket}/images/", apply_cors=False)
    assert checks(plan)["cors_rule_order"]["outcome"] == "warning"
    assert plan["cors"]["after"] == plan["cors"]["before"]
    assert plan["would_succeed"] is True


def test_a_full_cors_configuration_fails_the_rule_limit(clients, bucket):
    rules = [
        {"ID": f"r{i}", "AllowedOrigins": [f"https://{i}.acme.example"], "AllowedMethods": ["GET"]}
        for i in range(MAX_CORS_RULES)
    ]
    clients.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    found = checks(plan_of(clients, s3_uri=f"{bucket}/images/"))
    assert found["cors_rule_limit"]["would_fail_with"] == "ApplyCors.CorsRuleLimitExceeded"


@pytest.mark.parametrize(
    ("summary", "failed"),
    [
        ({"Users": 5000, "UsersQuota": 5000}, ["iam_users_quota"]),
        ({"Policies": 1500, "PoliciesQuota": 1500}, ["managed_policies_quota"]),
        ({"Users": 4999, "UsersQuota": 5000, "Policies": 1499, "PoliciesQuota": 1500}, []),
    ],
)
def test_quota_exhaustion_fails_the_headroom_check(clients, bucket, summary, failed):
    exhausted = replace(clients, iam=SummaryOverride(clients.iam, summary))
    plan = plan_of(exhausted, s3_uri=f"{bucket}/images/")
    assert plan["failed_checks"] == failed
    assert plan["account"]["iam_users_left"] == max(
        0, summary.get("UsersQuota", 5000) - summary.get("Users", 0)
    )


def test_users_on_the_path_are_counted(clients, bucket):
    for name in ("labellerr-a", "labellerr-b"):
        clients.iam.create_user(UserName=name, Path="/labellerr/")
    clients.iam.create_user(UserName="someone-else", Path="/")
    plan = plan_of(clients, s3_uri=f"{bucket}/images/")
    assert plan["account"]["iam_users_on_path"] == 2
    assert plan["account"]["iam_users"] == 3


def test_every_bucket_setting_is_reported_at_once(clients, bucket):
    deny = {"Sid": "NoOne", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}  # fmt: skip
    policy = {"Version": "2012-10-17", "Statement": [deny]}
    clients.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    plan = plan_of(replace(clients, s3=RequesterPays(clients.s3)), s3_uri=f"{bucket}/images/")
    found = checks(plan)
    assert found["requester_pays"]["would_fail_with"] == "ValidateRequest.RequesterPaysBucket"
    assert found["bucket_policy"]["would_fail_with"] == "ValidateRequest.BucketPolicyDenies"
    assert found["encryption"]["outcome"] == "passed"
    assert plan["failed_checks"] == ["requester_pays", "bucket_policy"]


def test_a_bucket_the_stack_may_not_manage_is_not_read(clients, bucket):
    narrowed = replace(SETTINGS, allowed_buckets="other-*")
    plan = plan_onboarding(
        clients, {"connection_name": "x", "bucket": bucket}, EXECUTION_ARN, ACCOUNT, narrowed
    )
    found = checks(plan)
    assert found["bucket_allowed"]["would_fail_with"] == "ValidateRequest.InvalidRequest"
    assert "bucket_exists" not in found
    assert plan["bucket"] == {"exists": False, "region": None}


def test_the_boundary_is_shown_as_iam_has_it(clients, bucket):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::*/*"}]}  # fmt: skip
    arn = clients.iam.create_policy(
        PolicyName="stack-connection-boundary", PolicyDocument=json.dumps(document)
    )["Policy"]["Arn"]
    with_boundary = replace(SETTINGS, permissions_boundary_arn=arn)
    plan = plan_onboarding(clients, {"connection_name": "x", "bucket": bucket}, "", ACCOUNT, with_boundary)
    assert plan["permissions_boundary"] == {"arn": arn, "status": "read", "document": document}
    assert plan["iam_user"]["permissions_boundary_arn"] == arn
    missing = replace(SETTINGS, permissions_boundary_arn=arn + "-gone")
    plan = plan_onboarding(clients, {"connection_name": "x", "bucket": bucket}, "", ACCOUNT, missing)
    assert plan["permissions_boundary"]["status"] == "not_found"


def test_a_derived_id_is_said_to_be_an_example(clients, bucket):
    plan = plan_onboarding(clients, {"connection_name": "Sat", "bucket": bucket}, "", ACCOUNT, SETTINGS)
    assert plan["connection"]["connection_id_derived"] is True
    assert plan["connection"]["connection_id"].startswith("sat-")
    assert "pass connection_id" in plan["connection"]["note"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"connection_name": "x", "bucket": "Bad_Bucket"}, "bucket"),
        ({"connection_name": "x", "s3_uri": "acme/../etc/"}, "s3_uri"),
        ({"connection_name": "x", "bucket": "acme-a", "dry_run": "yes"}, "dry_run"),
        ([], "request"),
    ],
)
def test_bad_input_is_refused_naming_the_field(clients, body, field):
    with pytest.raises(InvalidRequest) as raised:
        plan_onboarding(clients, body, EXECUTION_ARN, ACCOUNT, SETTINGS)
    assert [e["field"] for e in raised.value.errors] == [field]
    refused = refusal(raised.value)
    assert refused["planned"] is False
    assert refused["error"] == "PlanOnboarding.InvalidRequest"
    assert json.loads(refused["cause"])["message"].startswith("Invalid request: " + field)
    assert refused["errors"] == raised.value.errors
    nothing_written(clients, None)


def test_dry_run_true_is_taken_out_before_validation(clients, bucket):
    plan = plan_of(clients, s3_uri=f"{bucket}/images/", dry_run=True)
    assert plan["would_succeed"] is True


def test_a_prefix_beyond_latin_1_is_planned_with_the_size_iam_counts(clients, bucket):
    plan = plan_of(clients, s3_uri=f"{bucket}/\u753b\u50cf/2024/")
    assert plan["would_succeed"] is True, plan["failed_checks"]
    document = plan["policy"]["document"]
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["ReadObjects"]["Resource"] == f"arn:aws:s3:::{bucket}/\u753b\u50cf/2024/*"
    # Counted on the text IAM receives, where each of the two characters is a six-character escape.
    assert plan["policy"]["characters"] == len(serialize_policy(document))
    assert (
        plan["policy"]["characters"]
        == len(json.dumps(document, separators=(",", ":"), ensure_ascii=False)) + 2 * 2 * 5
    )
    assert checks(plan)["policy_size"]["outcome"] == "passed"
