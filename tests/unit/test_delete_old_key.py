from __future__ import annotations

from functions.delete_old_key.app import delete_old_key
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active


def test_the_old_key_is_deleted_and_gone_already_is_done(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    delete_old_key(iam, dynamodb, started, ROTATION_ARN)
    assert iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"] == []
    # A retry after a lost reply: the key is already gone, which is what the step wants.
    assert delete_old_key(iam, dynamodb, started, ROTATION_ARN)["deleted_at"]
