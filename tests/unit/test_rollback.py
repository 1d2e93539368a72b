from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from functions.apply_cors.app import apply_cors
from functions.attach_policy.app import attach_policy
from functions.create_policy.app import create_policy
from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from functions.rollback.app import original_error, roll_back
from provisioner_core.cors import rule_id_for
from tests.unit.conftest import EXECUTION_ARN, SETTINGS

CUSTOMER_RULE = {"ID": "customer", "AllowedOrigins": ["https://app.acme.com"], "AllowedMethods": ["PUT"]}


def _envelope(error_type, message):
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []})


def _run_until_secret(iam, s3, secrets, dynamodb, connection):
    run = {"connection": connection, "registration": {"claimed": True, "status": "PROVISIONING"}}
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
    outcome = roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Verify access")
    assert outcome["error"] == "VerifyAccess.AccessNotYetEffective"
    cause = json.loads(outcome["cause"])
    assert cause["failed_step"] == "Verify access"
    assert any(item.startswith("access key ") for item in cause["rolled_back"])
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"] == []
    assert secrets.list_secrets()["SecretList"] == []
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [CUSTOMER_RULE]
    # Idempotent: a second pass finds nothing left, fails nothing, and keeps the first pass's account.
    again = roll_back(
        iam, s3, secrets, dynamodb, {**run, "rollback": outcome}, EXECUTION_ARN, failed_state="Verify access"
    )
    assert again["complete"] is True
    assert again["rolled_back"] == outcome["rolled_back"]
    assert again["attempts"] == 2


def test_bucket_without_cors_before_has_none_after(iam, s3, secrets, dynamodb, bucket, connection):
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Verify access")
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
        "registration": {"claimed": True, "status": "PROVISIONING"},
        "user": {"user_name": connection["iam_user_name"]},
    }
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Verify access")
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"] == []


def test_pre_existing_user_is_never_touched(iam, s3, secrets, dynamodb, bucket, connection):
    iam.create_user(UserName=connection["iam_user_name"], Path="/labellerr/")
    iam.create_access_key(UserName=connection["iam_user_name"])
    run = {
        "connection": connection,
        "registration": {"claimed": True, "status": "PROVISIONING"},
        "failure": {"Error": "UserAlreadyExists", "Cause": _envelope("UserAlreadyExists", "exists")},
    }
    outcome = roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Create user")
    assert outcome["error"] == "CreateUser.UserAlreadyExists"
    assert "not created by this execution" in json.loads(outcome["cause"])["not_touched"][0]
    assert len(iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]) == 1


def test_failed_compensation_reports_what_is_left_and_the_next_attempt_finishes(
    iam, s3, secrets, dynamodb, bucket, connection
):
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    with Stubber(secrets) as stub:
        stub.add_client_error("describe_secret", "InternalServiceError", "down")
        first = roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Verify access")
    assert (first["complete"], first["retry"], first["error"]) == (False, True, "RollbackFailed")
    # DescribeSecret failed: the rollback cannot know whether the secret exists, and says so.
    assert first["left_behind"] == [
        f"secret {connection['secret_name']} (could not be checked; it may remain)"
    ]
    assert json.loads(first["cause"])["left_behind"] == first["left_behind"]
    # Everything else went; the secret is still there for the retried rollback.
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert len(secrets.list_secrets()["SecretList"]) == 1
    second = roll_back(
        iam, s3, secrets, dynamodb, {**run, "rollback": first}, EXECUTION_ARN, failed_state="Verify access"
    )
    assert second["complete"] is True
    assert secrets.list_secrets()["SecretList"] == []
    # rolled_back counts every attempt: the user went in the first, the secret in the second.
    assert f"IAM user {connection['iam_user_name']}" in second["rolled_back"]
    assert f"secret {connection['secret_name']}" in second["rolled_back"]


def test_the_error_is_named_after_the_state_the_state_machine_recorded(iam, s3, secrets, dynamodb):
    """Whatever the state is called, and whatever the run holds: a renamed state renames the error."""
    run = {
        "connection_name": "x",
        "failure": {"Error": "InvalidRequest", "Cause": _envelope("InvalidRequest", "Invalid request: x")},
    }
    for state, error in (
        ("Validate request", "ValidateRequest.InvalidRequest"),
        ("Check the request", "CheckTheRequest.InvalidRequest"),
    ):
        outcome = roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state=state)
        assert (outcome["error"], outcome["rolled_back"]) == (error, [])
        assert json.loads(outcome["cause"])["failed_step"] == state


def test_before_the_claim_the_connections_rule_is_never_touched(
    iam, s3, secrets, dynamodb, bucket, connection
):
    """Register connection failed: the id may be a live connection's, whose rule has this very ID."""
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    outcome = roll_back(
        iam,
        s3,
        secrets,
        dynamodb,
        {**run, "registration": None},
        EXECUTION_ARN,
        failed_state="Register connection",
    )
    assert outcome["complete"] is True
    assert [r["ID"] for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]] == [
        rule_id_for(connection["connection_id"])
    ]


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


def test_only_this_connections_rule_goes_and_another_connections_rule_stays(
    iam, s3, secrets, dynamodb, bucket, connection
):
    other = {**connection, "connection_id": "other", "execution_arn": EXECUTION_ARN + "-other"}
    apply_cors(s3, dynamodb, other, SETTINGS)
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Verify access")
    assert [r["ID"] for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]] == [rule_id_for("other")]


def test_the_rule_is_found_by_its_id_even_when_apply_cors_never_reported(
    iam, s3, secrets, dynamodb, bucket, connection
):
    run = _run_until_secret(iam, s3, secrets, dynamodb, connection)
    # Apply CORS took effect, then its reply was lost and the run failed there.
    del run["cors"], run["access_key"]
    roll_back(iam, s3, secrets, dynamodb, run, EXECUTION_ARN, failed_state="Verify access")
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)
