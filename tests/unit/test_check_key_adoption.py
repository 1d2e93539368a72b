from __future__ import annotations

import json

import boto3

from functions.check_key_adoption.app import check_key_adoption
from functions.hand_over_rotation_key.app import hand_over_rotation_key
from functions.issue_rotation_key.app import issue_rotation_key
from provisioner_core import registry, rotation
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active


def _handed_over(iam, secrets, dynamodb, events, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    started["labellerr"] = {"registered": False}
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    hand_over = hand_over_rotation_key(secrets, dynamodb, events, None, started, issued, ROTATION_ARN)
    return active, started, issued, hand_over


def _use(secrets, active, issued):
    value = json.loads(
        secrets.get_secret_value(SecretId=active.secret_arn, VersionId=issued["version_id"])["SecretString"]
    )
    boto3.client(
        "s3", aws_access_key_id=value["access_key_id"], aws_secret_access_key=value["secret_access_key"]
    ).list_buckets()


def test_not_adopted_until_the_consumer_signs_with_the_new_key(iam, secrets, dynamodb, events, connection):
    active, started, issued, hand_over = _handed_over(iam, secrets, dynamodb, events, connection)
    waiting = check_key_adoption(iam, dynamodb, started, issued, hand_over, 0, ROTATION_ARN)
    assert (waiting["adopted"], waiting["stalled"], waiting["checks_done"]) == (False, False, 1)
    _use(secrets, active, issued)
    adopted = check_key_adoption(iam, dynamodb, started, issued, hand_over, 1, ROTATION_ARN)
    assert (adopted["adopted"], adopted["adopted_by"]) == (True, "use")
    assert adopted["last_used_service"] == "s3"
    assert registry.get(dynamodb, connection["connection_id"])["rotation"]["stage"] == "ADOPTED"


def test_a_use_before_the_hand_over_is_the_rotations_own(iam, secrets, dynamodb, events, connection):
    active, started, issued, hand_over = _handed_over(iam, secrets, dynamodb, events, connection)
    _use(secrets, active, issued)
    later = {**hand_over, "handed_over_at": "2099-01-01T00:00:00.000Z"}
    assert check_key_adoption(iam, dynamodb, started, issued, later, 0, ROTATION_ARN)["adopted"] is False


def test_a_confirmation_for_this_rotation_counts_as_adoption(iam, secrets, dynamodb, events, connection):
    _active, started, issued, hand_over = _handed_over(iam, secrets, dynamodb, events, connection)
    for rotation_id, adopted in (("an-earlier-rotation", False), (started["rotation_id"], True)):
        registry.update(
            dynamodb, connection["connection_id"],
            {rotation.CONFIRMATION_FIELD: {"rotation_id": rotation_id, "at": registry.now()}},
            owner_field=rotation.HOLDER_FIELD, owner=ROTATION_ARN,
        )  # fmt: skip
        result = check_key_adoption(iam, dynamodb, started, issued, hand_over, 0, ROTATION_ARN)
        assert result["adopted"] is adopted
    assert result["adopted_by"] == "confirmation"


def test_stalls_after_the_adoption_period_of_checks(iam, secrets, dynamodb, events, connection):
    _active, started, issued, hand_over = _handed_over(iam, secrets, dynamodb, events, connection)
    checks = started["timing"]["adoption_checks"]
    assert (
        check_key_adoption(iam, dynamodb, started, issued, hand_over, checks - 1, ROTATION_ARN)["stalled"]
        is False
    )
    assert (
        check_key_adoption(iam, dynamodb, started, issued, hand_over, checks, ROTATION_ARN)["stalled"] is True
    )


def test_a_rotation_whose_connection_was_taken_over_stops(iam, secrets, dynamodb, events, connection):
    _active, started, issued, hand_over = _handed_over(iam, secrets, dynamodb, events, connection)
    registry.update(
        dynamodb, connection["connection_id"], {"status": "DEPROVISIONING"},
        owner_field=rotation.HOLDER_FIELD, owner=ROTATION_ARN,
    )  # fmt: skip
    assert check_key_adoption(iam, dynamodb, started, issued, hand_over, 0, ROTATION_ARN)["abandoned"] is True
