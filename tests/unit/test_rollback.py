from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from functions.apply_cors.app import apply_cors
from functions.attach_policy.app import attach_policy
from functions.create_policy.app import create_policy
from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from functions.rollback.app import failed_step, original_error, roll_back
from provisioner_core.errors import RollbackIncomplete
from tests.unit.conftest import EXECUTION_ARN, SETTINGS

CUSTOMER_RULE = {"ID": "customer", "AllowedOrigins": ["https://app.acme.com"], "AllowedMethods": ["PUT"]}


def _envelope(error_type, message):
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []})


def _run_until_secret(iam, s3, secrets, dynamodb, connection):
    run = {"connection": connection, "registration": {"status": "PROVISIONING"}}
    run["user"] = create_user(iam, connection, SETTINGS)
    run["policy"] = create_policy(iam, connection, SETTINGS)
    run["attachment"] = attach_policy(iam, run["user"]["user_name"], run["policy"]["policy_arn"])
    run["cors"] = apply_cors(s3, dynamodb, connection, SETTINGS)
    run["access_key"] = issue_access_key(iam, secrets, connection)
    return run


def test_everything_this_run_made_is_removed_and_foreign_cors_stays(
    iam, s3, secrets, dynamodb, bucket, connection
):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    run["failure"] = {
        "Error": "AccessNotYetEffective",
        "Cause": _envelope("AccessNotYetEffective", "s3:ListObjectsV2 with the new key was refused"),
    }
    outcome = roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)
    assert outcome["error"] == "VerifyAccess.AccessNotYetEffective"
    cause = json.loads(outcome["cause"])
    assert cause["failed_step"] == "Verify access"
    assert any(item.startswith("access key ") for item in cause["rolled_back"])
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"] == []
    assert secrets.list_secrets()["SecretList"] == []
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [CUSTOMER_RULE]
    # Idempotent: a second pass finds nothing left and fails nothing.
    assert roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)["rolled_back"] == []


def test_bucket_without_cors_before_has_none_after(iam, s3, secrets, dynamodb, bucket, connection):
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)


def test_resources_made_but_never_reported_are_found_by_name_and_tag(
    iam, s3, secrets, dynamodb, bucket, connection
):
    create_user(iam, connection, SETTINGS)
    create_policy(iam, connection, SETTINGS)
    # The run died inside "Create policy": the ledger only knows the user.
    run = {
        "connection": connection,
        "registration": {"status": "PROVISIONING"},
        "user": {"user_name": connection["iam_user_name"]},
    }
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"] == []


def test_pre_existing_user_is_never_touched(iam, s3, secrets, dynamodb, bucket, connection):
    iam.create_user(UserName=connection["iam_user_name"], Path="/labellerr/")
    iam.create_access_key(UserName=connection["iam_user_name"])
    run = {
        "connection": connection,
        "registration": {"status": "PROVISIONING"},
        "failure": {"Error": "UserAlreadyExists", "Cause": _envelope("UserAlreadyExists", "exists")},
    }
    outcome = roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)
    assert outcome["error"] == "CreateUser.UserAlreadyExists"
    assert "not created by this execution" in json.loads(outcome["cause"])["not_touched"][0]
    assert len(iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]) == 1


def test_failed_compensation_raises_with_what_is_left(iam, s3, secrets, dynamodb, bucket, connection):
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    with Stubber(secrets) as stub:
        stub.add_client_error("describe_secret", "InternalServiceError", "down")
        with pytest.raises(RollbackIncomplete) as raised:
            roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)
    left = json.loads(str(raised.value))
    assert left["left_behind"] == [f"secret {connection['secret_name']}"]
    # Everything else went; the secret is still there for a retried rollback.
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert len(secrets.list_secrets()["SecretList"]) == 1


def test_validation_failure_has_nothing_to_roll_back():
    run = {
        "connection_name": "x",
        "failure": {"Error": "InvalidRequest", "Cause": _envelope("InvalidRequest", "Invalid request: x")},
    }
    assert failed_step(run) == "Validate request"


def test_aws_error_code_is_recovered_from_the_step_error():
    failure = {
        "Error": "AwsCallFailed",
        "Cause": _envelope("AwsCallFailed", "CreateAccessKey failed with InjectedFault: injected"),
    }
    assert original_error(failure) == ("InjectedFault", "CreateAccessKey failed with InjectedFault: injected")
    assert original_error({"Error": "States.Timeout", "Cause": "timed out"}) == (
        "States.Timeout",
        "timed out",
    )


def test_rule_this_run_added_stays_when_another_live_connection_relies_on_it(
    iam, s3, secrets, dynamodb, bucket, connection
):
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    assert run["cors"]["rule_added"] is True
    # Meanwhile another connection on the same bucket went ACTIVE, finding our rule already there.
    dynamodb.put_item(
        TableName="ConnectionsTable",
        Item={"connection_id": {"S": "other"}, "bucket": {"S": bucket}, "status": {"S": "ACTIVE"}},
    )
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, SETTINGS)
    assert [r["ID"] for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]] == ["labellerr-access"]
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
