from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from provisioner_core.errors import AwsCallFailed, SecretAlreadyExists
from tests.unit.conftest import SETTINGS


def test_key_goes_straight_into_the_secret_and_only_its_arn_comes_back(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    result = issue_access_key(iam, secrets, connection)
    assert set(result) == {"access_key_id", "secret_arn", "secret_name"}
    assert "secret_access_key" not in json.dumps(result)
    value = json.loads(secrets.get_secret_value(SecretId=result["secret_arn"])["SecretString"])
    assert set(value) == {"access_key_id", "secret_access_key", "bucket", "prefix", "s3_uri", "region"}
    assert value["access_key_id"] == result["access_key_id"]
    assert value["s3_uri"] == "acme-datasets/images/"
    keys = iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [result["access_key_id"]]
    tags = secrets.describe_secret(SecretId=result["secret_arn"])["Tags"]
    assert {"Key": "labellerr:execution-arn", "Value": connection["execution_arn"]} in tags


def test_existing_secret_fails_and_the_new_key_is_deleted(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    secrets.create_secret(Name=connection["secret_name"], SecretString="{}")
    with pytest.raises(SecretAlreadyExists):
        issue_access_key(iam, secrets, connection)
    assert iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"] == []


def test_secrets_manager_failure_deletes_the_key(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    with Stubber(secrets) as stub:
        stub.add_client_error("create_secret", "InternalServiceError", "boom")
        with pytest.raises(AwsCallFailed, match="CreateSecret failed with InternalServiceError"):
            issue_access_key(iam, secrets, connection)
    assert iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"] == []
