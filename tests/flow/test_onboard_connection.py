"""The real ASL, run by the emulator's interpreter, with the template's functions in-process."""

from __future__ import annotations

import json

import pytest

from tests.support.api import http, wait_for_status
from tests.support.buckets import CUSTOMER_RULE, SAMPLE_KEYS
from tests.support.clients import key_client
from tests.support.executions import run_flow, unique_id
from tests.support.residue import cors_rules, leftovers
from tests.support.secret_values import SecretValue

pytestmark = pytest.mark.flow

OUTPUT_FIELDS = {
    "connection_id", "status", "bucket", "prefix", "s3_uri", "region", "access", "iam_user_name",
    "iam_user_arn", "policy_arn", "access_key_id", "secret_arn", "cors", "verification",
}  # fmt: skip
# The CORS rule a connection adds, but for its ID: GETs (and HEADs) from Labellerr's origins, exposing what
# its viewer reads back from a ranged image request.
LABELLERR_RULE = {
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"],
    "MaxAgeSeconds": 3600,
}


def _denied(call, **kwargs):
    with pytest.raises(Exception) as raised:  # noqa: PT011 - botocore error classes differ per client
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def _secret_access_key(secrets, secret_id) -> SecretValue:
    value = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])["secret_access_key"]
    return SecretValue(value)


def test_import_onboarding_issues_a_key_that_works_inside_its_prefix_only(
    stack, sfn, s3, iam, secrets, bucket
):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    run = run_flow(stack, sfn, {"connection_name": "Satellite images", "s3_uri": f"s3://{bucket}/images"})

    assert run.status == "SUCCEEDED", run.cause
    out = run.output
    assert out is not None
    assert set(out) >= OUTPUT_FIELDS
    assert (out["status"], out["bucket"], out["prefix"], out["s3_uri"]) == (
        "ACTIVE", bucket, "images/", f"{bucket}/images/",
    )  # fmt: skip
    assert out["connection_id"].startswith("satellite-images-")
    assert out["iam_user_arn"].endswith(f":user/labellerr/labellerr-{out['connection_id']}")
    outcomes = {c["operation"]: c["outcome"] for c in out["verification"]["checks"]}
    assert outcomes == {
        "s3:ListObjectsV2": "passed", "s3:GetObject": "passed", "s3:GetBucketCors": "passed",
        # What Labellerr's browser meets, evaluated as S3 does by the local stack.
        "cors:Preflight": "passed", "cors:GetObject": "passed", "cors:RuleOrder": "passed",
        "cors:ForeignOriginRefused": "passed",
    }  # fmt: skip

    # What exists in IAM, S3 and Secrets Manager after the run.
    user = iam.get_user(UserName=out["iam_user_name"])["User"]
    assert user["Path"] == "/labellerr/"
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user["UserName"])["Tags"]}
    assert tags["labellerr:connection-id"] == out["connection_id"]
    assert tags["labellerr:execution-arn"] == out["execution_arn"]
    attached = iam.list_attached_user_policies(UserName=user["UserName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [out["policy_arn"]]
    keys = iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [out["access_key_id"]]
    value = json.loads(secrets.get_secret_value(SecretId=out["secret_arn"])["SecretString"])
    assert value["access_key_id"] == out["access_key_id"]
    assert (value["bucket"], value["prefix"], value["s3_uri"]) == (bucket, "images/", f"{bucket}/images/")
    # The customer's rule untouched and first; then exactly the rule Labellerr's viewer needs (the
    # template's default origins), spelled out here rather than taken from the code that writes it.
    assert cors_rules(s3, bucket) == [
        CUSTOMER_RULE,
        LABELLERR_RULE | {"ID": f"labellerr-{out['connection_id']}"},
    ]

    # The issued key, enforced by the emulator: list and get inside the prefix, nothing else.
    as_key = key_client(stack, secrets, out["secret_arn"])
    listed = as_key.list_objects_v2(Bucket=bucket, Prefix="images/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(SAMPLE_KEYS)
    assert as_key.get_object(Bucket=bucket, Key=SAMPLE_KEYS[0])["Body"].read().startswith(b"\x89PNG")
    assert _denied(as_key.get_object, Bucket=bucket, Key="private/payroll.csv") == "AccessDenied"
    assert _denied(as_key.put_object, Bucket=bucket, Key="images/new.png", Body=b"x") == "AccessDenied"
    assert _denied(as_key.delete_object, Bucket=bucket, Key=SAMPLE_KEYS[0]) == "AccessDenied"
    assert (
        _denied(as_key.put_bucket_cors, Bucket=bucket, CORSConfiguration={"CORSRules": []}) == "AccessDenied"
    )

    # Only the ARN travelled: the secret access key is nowhere in the execution history.
    secret = _secret_access_key(secrets, out["secret_arn"])
    # Judged on a line of its own: the assertion then shows no operand that may hold the secret.
    leaked = secret.found_in(run.history), secret.found_in(out)
    assert leaked == (False, False), "the secret access key is in the (history, output) marked True"


def test_import_export_key_can_write_and_delete_under_the_prefix_only(stack, sfn, s3, secrets, bucket):
    run = run_flow(
        stack,
        sfn,
        {
            "connection_name": "Round trip",
            "bucket": bucket,
            "prefix": "/exports//",
            "access": "import_export",
        },
    )
    assert run.status == "SUCCEEDED", run.cause
    out = run.output
    assert out["prefix"] == "exports/"
    outcomes = {c["operation"]: c["outcome"] for c in out["verification"]["checks"]}
    assert outcomes["s3:PutObject"] == outcomes["s3:DeleteObject"] == "passed"
    assert outcomes["s3:GetObject"] == "not_tried"  # the prefix was empty
    # The probe did not stay behind.
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="exports/")

    as_key = key_client(stack, secrets, out["secret_arn"])
    as_key.put_object(Bucket=bucket, Key="exports/labels.json", Body=b"{}")
    as_key.delete_object(Bucket=bucket, Key="exports/labels.json")
    assert _denied(as_key.put_object, Bucket=bucket, Key="images/evil.png", Body=b"x") == "AccessDenied"
    assert _denied(as_key.get_object, Bucket=bucket, Key=SAMPLE_KEYS[0]) == "AccessDenied"


def test_apply_cors_false_leaves_the_bucket_cors_alone(stack, sfn, s3, bucket):
    run = run_flow(
        stack, sfn, {"connection_name": "Own CORS", "s3_uri": f"{bucket}/images/", "apply_cors": False}
    )
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["cors"]["applied"] is False
    assert "s3:GetBucketCors" not in {c["operation"] for c in run.output["verification"]["checks"]}
    assert cors_rules(s3, bucket) is None


def test_invalid_request_names_every_field_and_creates_nothing(stack, sfn, iam):
    users_before = iam.list_users(PathPrefix="/labellerr/")["Users"]
    run = run_flow(
        stack,
        sfn,
        {"connection_name": "Bad*", "s3_uri": "acme-datasets/a/../b", "access": "admin", "role": "x"},
    )
    assert run.status == "FAILED"
    assert run.error == "ValidateRequest.InvalidRequest"
    message = run.cause_json["message"]
    for field in ("connection_name", "s3_uri", "access", "role"):
        assert f"{field}:" in message
    assert "'.' or '..'" in message
    assert run.cause_json["rolled_back"] == []
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == users_before


def test_missing_bucket_fails_before_anything_is_created(stack, sfn, iam, secrets):
    connection_id = unique_id()
    run = run_flow(
        stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": "no-such-bucket-9"}
    )
    assert run.error == "ValidateRequest.BucketNotFound"
    assert leftovers(iam, secrets, connection_id) == []


def test_pre_existing_user_with_our_name_survives_and_fails_clearly(stack, sfn, iam, secrets, bucket):
    connection_id = unique_id()
    name = f"labellerr-{connection_id}"
    iam.create_user(UserName=name, Path="/labellerr/")
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]

    run = run_flow(stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket})

    assert run.status == "FAILED"
    assert run.error == "CreateUser.UserAlreadyExists"
    assert run.cause_json["rolled_back"] == []
    assert any(name in item for item in run.cause_json["not_touched"])
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == [key]
    assert leftovers(iam, secrets, connection_id) == [f"user {name}", f"key {key}"]


# Every AWS operation the flow calls on its way forward, with the step that calls it.
FORWARD_OPERATIONS = [
    ("s3:HeadBucket", "ValidateRequest", "import"),
    ("iam:CreateUser", "CreateUser", "import"),
    ("iam:CreatePolicy", "CreatePolicy", "import"),
    ("iam:AttachUserPolicy", "AttachPolicy", "import"),
    ("s3:GetBucketCors", "ApplyCors", "import"),
    ("s3:PutBucketCors", "ApplyCors", "import"),
    ("iam:CreateAccessKey", "IssueAccessKey", "import"),
    ("secretsmanager:CreateSecret", "IssueAccessKey", "import"),
    ("secretsmanager:GetSecretValue", "VerifyAccess", "import"),
    ("s3:ListObjectsV2", "VerifyAccess", "import"),
    ("s3:GetObject", "VerifyAccess", "import"),
    ("s3:PutObject", "VerifyAccess", "import_export"),
]


@pytest.mark.parametrize("had_cors", [True, False], ids=["bucket-with-cors", "bucket-without-cors"])
@pytest.mark.parametrize(
    ("operation", "step", "access"), FORWARD_OPERATIONS, ids=[o[0] for o in FORWARD_OPERATIONS]
)
def test_a_fault_anywhere_rolls_back_everything(
    stack, sfn, s3, iam, secrets, bucket, faults, operation, step, access, had_cors
):
    if had_cors:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    cors_before = cors_rules(s3, bucket)
    connection_id = unique_id()
    # Forward only: the same operation failing in the rollback too is the fault matrix's business.
    faults([f"{operation}@{step}"])

    run = run_flow(
        stack,
        sfn,
        {
            "connection_name": "x",
            "connection_id": connection_id,
            "s3_uri": f"{bucket}/images/",
            "access": access,
        },
    )

    assert run.status == "FAILED"
    assert run.error == f"{step}.InjectedFault", run.cause
    assert run.cause_json["error"] == "InjectedFault"
    assert leftovers(iam, secrets, connection_id) == []
    assert cors_rules(s3, bucket) == cors_before
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == sorted(
        [*SAMPLE_KEYS, "private/payroll.csv"]
    )


def test_rollback_that_cannot_finish_says_what_is_left(stack, sfn, s3, iam, secrets, bucket, faults):
    """The probe's own delete failing keeps failing in rollback: the run says RollbackFailed and lists it."""
    connection_id = unique_id()
    faults(["s3:DeleteObject"])
    run = run_flow(
        stack,
        sfn,
        {"connection_name": "x", "connection_id": connection_id, "bucket": bucket, "prefix": "exports/",
         "access": "import_export"},
    )  # fmt: skip
    assert run.status == "FAILED"
    assert run.error == "RollbackFailed"
    probe = f"exports/.labellerr-connection-check-{connection_id}"
    cause = run.cause_json  # one JSON object: no JSON inside strings, no stack trace
    # S3 deletes a missing key without a word, so a failed delete cannot tell whether the probe is there.
    assert cause["left_behind"] == [
        f"probe object s3://{bucket}/{probe} (could not be checked; it may remain)"
    ]
    assert "stackTrace" not in run.cause
    assert "/var/task" not in run.cause
    # Everything else was still removed, and said so across every attempt.
    assert leftovers(iam, secrets, connection_id) == []
    assert any(item.startswith("IAM user ") for item in cause["rolled_back"])
    assert s3.head_object(Bucket=bucket, Key=probe)
    # Once the fault is gone, one DELETE finishes the job with the provisioner's own permission.
    faults([])
    status, _ = http(stack, "DELETE", f"/connections/{connection_id}")
    assert status == 202
    wait_for_status(stack, connection_id, {"DELETED"})
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=probe)


def test_no_failed_run_leaks_the_secret_into_its_history(stack, sfn, iam, secrets, bucket, faults):
    """A run that fails after the key was issued, and whose rollback cannot delete the secret, so the test
    can read the very secret access key the run handled and look for its value in the history."""
    faults(["s3:ListObjectsV2@VerifyAccess", "secretsmanager:DeleteSecret@Rollback"])
    connection_id = unique_id()
    run = run_flow(stack, sfn, {"connection_name": "x", "connection_id": connection_id, "bucket": bucket})
    assert run.status == "FAILED"
    assert run.cause_json["error"] == "InjectedFault", run.error
    secret_name = f"labellerr/connections/{connection_id}"
    assert any(secret_name in item for item in run.cause_json["left_behind"]), run.cause_json

    secret = _secret_access_key(secrets, secret_name)
    leaked = secret.found_in(run.history), secret.found_in(run.cause)
    assert leaked == (False, False), (
        "the secret access key is in the failed run's (history, cause) marked True"
    )
    history = json.dumps(run.history, default=str)
    assert "secret_access_key" not in history
    assert "SecretAccessKey" not in history

    # Once the fault is gone, one DELETE removes what the rollback could not.
    faults([])
    status, _ = http(stack, "DELETE", f"/connections/{connection_id}")
    assert status == 202
    wait_for_status(stack, connection_id, {"DELETED"})
    assert leftovers(iam, secrets, connection_id) == []
