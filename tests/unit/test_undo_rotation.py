from __future__ import annotations

import json

from botocore.exceptions import ClientError

from functions.deactivate_old_key.app import deactivate_old_key
from functions.hand_over_rotation_key.app import hand_over_rotation_key
from functions.issue_rotation_key.app import issue_rotation_key
from functions.undo_rotation.app import undo_rotation
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active

FAILURE = {
    "Error": "AccessDeniedByPolicy",
    "Cause": json.dumps({"errorMessage": "refused by the bucket policy"}),
}


def _keys(iam, user):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def test_a_failure_before_the_hand_over_puts_the_connection_back_on_its_old_key(
    iam, s3, secrets, dynamodb, connection
):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    run = {"rotation": started, "new_key": issued, "failure": FAILURE}
    outcome = undo_rotation(iam, s3, secrets, run, "failed", ROTATION_ARN, "Verify access")
    assert outcome["complete"] is True, outcome
    assert outcome["current_access_key_id"] == active.access_key_id
    assert _keys(iam, connection["iam_user_name"]) == {active.access_key_id: "Active"}
    stages = secrets.describe_secret(SecretId=active.secret_arn)["VersionIdsToStages"]
    assert [v for v, s in stages.items() if s] == [started["old_version_id"]]
    assert f"new access key {issued['access_key_id']}" in outcome["removed"]
    assert json.loads(outcome["cause"])["error"] == "AccessDeniedByPolicy"
    assert json.loads(outcome["cause"])["failed_step"] == "Verify access"


def test_a_rollback_in_the_grace_period_restores_the_old_key_as_current(
    iam, s3, secrets, dynamodb, events, connection
):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    started["labellerr"] = {"registered": False}
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    hand_over_rotation_key(secrets, dynamodb, events, None, started, issued, ROTATION_ARN)
    deactivate_old_key(iam, dynamodb, started, ROTATION_ARN)
    outcome = undo_rotation(
        iam, s3, secrets, {"rotation": started, "new_key": issued}, "rollback", ROTATION_ARN
    )
    assert outcome["complete"] is True
    assert _keys(iam, connection["iam_user_name"]) == {active.access_key_id: "Active"}
    current = json.loads(
        secrets.get_secret_value(SecretId=active.secret_arn, VersionStage="AWSCURRENT")["SecretString"]
    )
    assert current["access_key_id"] == active.access_key_id


def test_a_key_a_person_had_deactivated_goes_back_inactive_also_after_a_retried_begin(
    iam, s3, secrets, dynamodb, events, connection
):
    active = make_active(iam, secrets, dynamodb, connection)
    user = connection["iam_user_name"]
    iam.update_access_key(UserName=user, AccessKeyId=active.access_key_id, Status="Inactive")
    begin(iam, secrets, dynamodb, active)
    # The step's retry (its first reply lost) reads the status back from the record's `rotation`.
    started = begin(iam, secrets, dynamodb, active)
    assert started["old_key_status"] == "Inactive"
    started["labellerr"] = {"registered": False}
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    run = {"rotation": started, "new_key": issued, "failure": FAILURE}
    for _ in range(2):  # the undo's own retry finds it the same way
        outcome = undo_rotation(iam, s3, secrets, run, "failed", ROTATION_ARN, "Verify access")
        assert outcome["complete"] is True, outcome
        assert _keys(iam, user) == {active.access_key_id: "Inactive"}
    assert (
        f"old access key {active.access_key_id} Inactive again, as before the rotation" in outcome["removed"]
    )


def test_what_it_cannot_undo_is_reported_not_raised(iam, s3, secrets, dynamodb, connection, monkeypatch):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "ServiceFailure", "Message": "down"}}, "DeleteAccessKey")

    monkeypatch.setattr(iam, "delete_access_key", refuse)
    outcome = undo_rotation(
        iam, s3, secrets, {"rotation": started, "new_key": issued}, "failed", ROTATION_ARN
    )
    assert (outcome["complete"], outcome["retry"]) == (False, True)
    assert outcome["left_behind"] == [f"new access key {issued['access_key_id']}"]
    # The next attempt keeps the account of the first.
    monkeypatch.undo()
    again = undo_rotation(
        iam, s3, secrets, {"rotation": started, "new_key": issued, "undo": outcome}, "failed", ROTATION_ARN
    )
    assert again["complete"] is True
    assert again["attempts"] == 2


def test_a_key_older_than_the_rotation_is_left_alone_and_said_so(iam, s3, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    other = iam.create_access_key(UserName=connection["iam_user_name"])["AccessKey"]["AccessKeyId"]
    old_start = {**started, "started_at": "2099-01-01T00:00:00.000Z"}
    outcome = undo_rotation(iam, s3, secrets, {"rotation": old_start}, "failed", ROTATION_ARN)
    assert other in _keys(iam, connection["iam_user_name"])
    assert outcome["not_touched"] == [f"access key {other} (older than this rotation)"]
