from __future__ import annotations

import json

import pytest

from functions.issue_rotation_key.app import issue_rotation_key
from provisioner_core import registry
from provisioner_core.errors import TooManyAccessKeys
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active


def _keys(iam, user):
    return {k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def test_the_second_key_goes_into_a_pending_version_and_the_old_one_stays_current(
    iam, secrets, dynamodb, connection
):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    assert _keys(iam, connection["iam_user_name"]) == {active.access_key_id, issued["access_key_id"]}
    stages = secrets.describe_secret(SecretId=active.secret_arn)["VersionIdsToStages"]
    assert stages[issued["version_id"]] == ["AWSPENDING"]
    assert stages[started["old_version_id"]] == ["AWSCURRENT"]
    pending = json.loads(
        secrets.get_secret_value(SecretId=active.secret_arn, VersionStage="AWSPENDING")["SecretString"]
    )
    assert pending["access_key_id"] == issued["access_key_id"]
    assert set(pending) == {"access_key_id", "secret_access_key", "bucket", "prefix", "s3_uri", "region"}
    assert "secret_access_key" not in json.dumps(issued)
    rotation = registry.get(dynamodb, connection["connection_id"])["rotation"]
    assert (rotation["stage"], rotation["new_access_key_id"]) == ("NEW_KEY_ISSUED", issued["access_key_id"])


def test_a_retry_keeps_the_key_its_pending_version_holds(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    first = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    again = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    assert again == first
    assert len(_keys(iam, connection["iam_user_name"])) == 2


def test_a_key_whose_secret_version_was_lost_is_replaced(iam, secrets, dynamodb, connection):
    """CreateAccessKey took effect and PutSecretValue never ran: nobody can ever read that key."""
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    orphan = iam.create_access_key(UserName=connection["iam_user_name"])["AccessKey"]["AccessKeyId"]
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    assert orphan not in _keys(iam, connection["iam_user_name"])
    assert _keys(iam, connection["iam_user_name"]) == {active.access_key_id, issued["access_key_id"]}


def test_a_key_older_than_the_rotation_is_never_deleted_to_make_room(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    someone_elses = iam.create_access_key(UserName=connection["iam_user_name"])["AccessKey"]["AccessKeyId"]
    with pytest.raises(TooManyAccessKeys):
        issue_rotation_key(
            iam,
            secrets,
            dynamodb,
            connection,
            {**started, "started_at": "2099-01-01T00:00:00.000Z"},
            ROTATION_ARN,
        )
    assert someone_elses in _keys(iam, connection["iam_user_name"])
