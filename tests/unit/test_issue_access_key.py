from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from provisioner_core.errors import SecretAlreadyExists, SecretNameNotYetFree
from tests.unit.conftest import SETTINGS


def test_key_goes_straight_into_the_secret_and_only_its_arn_comes_back(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    result = issue_access_key(iam, secrets, connection)
    assert set(result) == {"access_key_id", "secret_arn", "secret_name", "issued_at"}
    assert "secret_access_key" not in json.dumps(result)
    value = json.loads(secrets.get_secret_value(SecretId=result["secret_arn"])["SecretString"])
    assert set(value) == {"access_key_id", "secret_access_key", "bucket", "prefix", "s3_uri", "region"}
    assert value["access_key_id"] == result["access_key_id"]
    assert value["s3_uri"] == "acme-datasets/images/"
    keys = iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [result["access_key_id"]]
    tags = secrets.describe_secret(SecretId=result["secret_arn"])["Tags"]
    assert {"Key": "labellerr:execution-arn", "Value": connection["execution_arn"]} in tags


def test_someone_elses_secret_fails_before_any_key_is_made(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    secrets.create_secret(Name=connection["secret_name"], SecretString="{}")
    with pytest.raises(SecretAlreadyExists):
        issue_access_key(iam, secrets, connection)
    assert iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"] == []


def _keys(iam, connection):
    return [
        k["AccessKeyId"]
        for k in iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]
    ]


def test_a_failed_secret_write_leaves_the_key_for_the_retry_which_replaces_it(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    with Stubber(secrets) as stub:
        stub.add_client_error("describe_secret", "ResourceNotFoundException", "none")
        stub.add_client_error("create_secret", "InternalServiceError", "boom")
        with pytest.raises(Exception, match="InternalServiceError"):
            issue_access_key(iam, secrets, connection)
    [orphan] = _keys(iam, connection)
    result = issue_access_key(iam, secrets, connection)
    assert _keys(iam, connection) == [result["access_key_id"]] != [orphan]


def test_a_retry_after_the_secret_was_written_returns_the_same_key(iam, secrets, connection):
    """CreateSecret took effect and its reply was lost: the retry finds this execution's secret."""
    create_user(iam, connection, SETTINGS)
    first = issue_access_key(iam, secrets, connection)
    # CreateAccessKey of a later attempt also took effect without a reply: an orphan nobody can read.
    iam.create_access_key(UserName=connection["iam_user_name"])
    again = issue_access_key(iam, secrets, connection)
    assert {**again, "issued_at": ""} == {**first, "issued_at": ""}
    assert _keys(iam, connection) == [first["access_key_id"]]


def test_a_secret_holding_a_key_that_is_gone_gets_a_new_key_as_its_new_version(iam, secrets, connection):
    create_user(iam, connection, SETTINGS)
    first = issue_access_key(iam, secrets, connection)
    iam.delete_access_key(UserName=connection["iam_user_name"], AccessKeyId=first["access_key_id"])
    again = issue_access_key(iam, secrets, connection)
    assert again["secret_arn"] == first["secret_arn"]
    assert _keys(iam, connection) == [again["access_key_id"]] != [first["access_key_id"]]
    value = json.loads(secrets.get_secret_value(SecretId=again["secret_arn"])["SecretString"])
    assert value["access_key_id"] == again["access_key_id"]


@pytest.fixture
def deletion_as_aws_answers():
    """CreateSecret of a name scheduled for deletion answers as AWS does (moto: ResourceExistsException)."""
    from provisioner_local import secret_deletion
    from provisioner_local.aws_patches import Patches

    patches = Patches()
    secret_deletion.install(patches, lambda: None)
    yield
    patches.undo()


def test_a_name_still_being_deleted_is_not_yet_free_and_the_old_secret_is_never_reused(
    iam, secrets, connection, deletion_as_aws_answers
):
    create_user(iam, connection, SETTINGS)
    old = secrets.create_secret(Name=connection["secret_name"], SecretString='{"access_key_id": "OLD"}')
    # An offboarding's deletion that has not finished yet: the name is still taken, the value unreadable.
    secrets.delete_secret(SecretId=old["ARN"], RecoveryWindowInDays=7)
    with pytest.raises(SecretNameNotYetFree, match="still being deleted"):
        issue_access_key(iam, secrets, connection, retry_count=0)
    [orphan] = _keys(iam, connection)
    with pytest.raises(SecretNameNotYetFree):
        issue_access_key(iam, secrets, connection, retry_count=1)
    assert _keys(iam, connection) == [orphan]  # a retry makes no key while the name is taken

    secrets.delete_secret(SecretId=old["ARN"], ForceDeleteWithoutRecovery=True)
    result = issue_access_key(iam, secrets, connection, retry_count=2)
    assert result["secret_arn"] != old["ARN"]
    assert _keys(iam, connection) == [result["access_key_id"]] != [orphan]
    value = json.loads(secrets.get_secret_value(SecretId=result["secret_arn"])["SecretString"])
    assert value["access_key_id"] == result["access_key_id"]
