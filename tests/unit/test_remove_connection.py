from __future__ import annotations

import pytest

from functions.apply_cors.app import apply_cors
from functions.attach_policy.app import attach_policy
from functions.create_policy.app import create_policy
from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from functions.register_connection.app import register_connection
from functions.remove_connection.app import remove_connection
from provisioner_core import registry
from tests.unit.conftest import SETTINGS, make_connection

OFFBOARDING_ARN = "arn:aws:states:us-east-1:123456789012:execution:OffboardConnectionStateMachine:off-1"
CUSTOMER_RULE = {"ID": "customer", "AllowedOrigins": ["https://app.acme.com"], "AllowedMethods": ["PUT"]}


def _onboard(iam, s3, secrets, dynamodb, connection):
    register_connection(dynamodb, connection)
    user = create_user(iam, connection, SETTINGS)
    policy = create_policy(iam, connection, SETTINGS)
    attach_policy(iam, user["user_name"], policy["policy_arn"])
    cors = apply_cors(s3, dynamodb, connection, SETTINGS)
    issue_access_key(iam, secrets, connection)
    registry.update(
        dynamodb, connection["connection_id"], {"status": "ACTIVE", "cors": cors, "policy_arn": policy["policy_arn"]},
        owner_field="execution_arn", owner=connection["execution_arn"],
    )  # fmt: skip
    return registry.get(dynamodb, connection["connection_id"])


def test_removes_everything_and_only_our_cors_rule(iam, s3, secrets, dynamodb, bucket, connection):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CUSTOMER_RULE]})
    record = _onboard(iam, s3, secrets, dynamodb, connection)
    result = remove_connection(iam, s3, secrets, dynamodb, record, OFFBOARDING_ARN)
    assert any(item.startswith("access key") for item in result["removed"])
    assert iam.list_users(PathPrefix="/labellerr/")["Users"] == []
    assert iam.list_policies(Scope="Local", PathPrefix="/labellerr/")["Policies"] == []
    assert secrets.list_secrets()["SecretList"] == []
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == [CUSTOMER_RULE]
    # Idempotent: a resumed offboarding finds nothing left to do.
    assert (
        remove_connection(iam, s3, secrets, dynamodb, record, OFFBOARDING_ARN, result)["removed"]
        == result["removed"]
    )


def test_each_connection_takes_only_its_own_cors_rule(iam, s3, secrets, dynamodb, bucket, connection):
    first = _onboard(iam, s3, secrets, dynamodb, connection)
    second = make_connection(
        connection_id="second", iam_user_name="labellerr-second", policy_name="labellerr-second",
        secret_name="labellerr/connections/second", execution_arn=connection["execution_arn"] + "-2",
    )  # fmt: skip
    _onboard(iam, s3, secrets, dynamodb, second)
    remove_connection(iam, s3, secrets, dynamodb, first, OFFBOARDING_ARN)
    assert [r["ID"] for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]] == ["labellerr-second"]
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/labellerr/")["Users"]] == ["labellerr-second"]


def test_the_rule_and_probe_are_found_by_name_whatever_the_record_says(
    iam, s3, secrets, dynamodb, bucket, connection
):
    # A connection that never got ACTIVE has no `cors` in its record; the bucket is what counts.
    exporting = {**connection, "access": "import_export"}
    record = _onboard(iam, s3, secrets, dynamodb, exporting)
    record.pop("cors")
    s3.put_object(Bucket=bucket, Key="images/.labellerr-connection-check-satellite-images", Body=b"x")
    result = remove_connection(iam, s3, secrets, dynamodb, record, OFFBOARDING_ARN)
    assert result["complete"] is True
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="images/.labellerr")


def test_resources_of_another_connection_with_our_names_are_not_touched(
    iam, s3, secrets, dynamodb, bucket, connection
):
    iam.create_user(UserName=connection["iam_user_name"], Path="/labellerr/")
    record = {**connection, "status": "FAILED", "cors": {"applied": False}}
    result = remove_connection(iam, s3, secrets, dynamodb, record, OFFBOARDING_ARN)
    assert result["removed"] == []
    assert result["not_touched"]
    assert iam.get_user(UserName=connection["iam_user_name"])["User"]
