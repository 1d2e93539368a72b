from __future__ import annotations

import json

import pytest

from functions.begin_rotation.app import begin_rotation
from provisioner_core import registry
from tests.unit.rotation_setup import ROTATION_ARN, TIMING, begin, make_active


def _refused(result):
    assert result["refused"] is True
    return result["error"], json.loads(result["cause"])


def test_marks_an_active_connection_rotating_and_keeps_the_old_key(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    assert started["old_access_key_id"] == active.access_key_id
    assert started["timing"] == {
        "adoption_days": 1, "grace_days": 1, "check_seconds": 21600, "adoption_checks": 4, "grace_checks": 4,
    }  # fmt: skip
    record = registry.get(dynamodb, connection["connection_id"])
    assert (record["status"], record["rotation_execution_arn"]) == ("ROTATING", ROTATION_ARN)
    current = secrets.describe_secret(SecretId=active.secret_arn)["VersionIdsToStages"]
    assert current[record["rotation"]["old_version_id"]] == ["AWSCURRENT"]
    assert record["rotation"]["keys_at_start"] == [active.access_key_id]
    # A retry of the step finds its own claim.
    assert begin(iam, secrets, dynamodb, active)["rotation_id"] == started["rotation_id"]


def test_a_second_rotation_is_refused_while_one_runs(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    begin(iam, secrets, dynamodb, active)
    error, cause = _refused(
        begin_rotation(
            dynamodb, iam, secrets, {"connection_id": "satellite-images"}, ROTATION_ARN + "-2", "r2", TIMING
        )
    )
    assert error == "BeginRotation.RotationNotAllowed"
    assert "ROTATING" in cause["message"]


def test_two_keys_already_is_refused_and_nothing_is_deleted(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    extra = iam.create_access_key(UserName=connection["iam_user_name"])["AccessKey"]["AccessKeyId"]
    error, cause = _refused(
        begin_rotation(
            dynamodb, iam, secrets, {"connection_id": "satellite-images"}, ROTATION_ARN, "r1", TIMING
        )
    )
    assert error == "BeginRotation.TooManyAccessKeys"
    assert extra in cause["message"]
    assert "never deletes an active key" in cause["message"]
    keys = {
        k["AccessKeyId"]
        for k in iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]
    }
    assert keys == {active.access_key_id, extra}
    assert registry.get(dynamodb, "satellite-images")["status"] == "ACTIVE"


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        ({"connection_id": "nobody"}, "BeginRotation.ConnectionNotFound"),
        ({"connection_id": "Not An Id"}, "BeginRotation.InvalidRequest"),
        ("satellite-images", "BeginRotation.InvalidRequest"),
    ],
)
def test_bad_requests_are_refused_by_name(iam, secrets, dynamodb, request_body, error):
    assert (
        _refused(begin_rotation(dynamodb, iam, secrets, request_body, ROTATION_ARN, "r1", TIMING))[0] == error
    )


def test_a_secret_scheduled_for_deletion_is_refused_by_name_and_nothing_changes(
    iam, secrets, dynamodb, connection
):
    active = make_active(iam, secrets, dynamodb, connection)
    secrets.delete_secret(SecretId=active.secret_arn, RecoveryWindowInDays=7)
    error, cause = _refused(
        begin_rotation(
            dynamodb, iam, secrets, {"connection_id": "satellite-images"}, ROTATION_ARN, "r1", TIMING
        )
    )
    assert error == "BeginRotation.SecretGone"
    assert "scheduled for deletion" in cause["message"]
    assert registry.get(dynamodb, "satellite-images")["status"] == "ACTIVE"
