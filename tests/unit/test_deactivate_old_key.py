from __future__ import annotations

import pytest

from functions.deactivate_old_key.app import deactivate_old_key
from provisioner_core import registry
from provisioner_core.errors import ConnectionBusy
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active


def test_the_old_key_becomes_inactive_and_stays(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    deactivate_old_key(iam, dynamodb, started, ROTATION_ARN)
    [key] = iam.list_access_keys(UserName=connection["iam_user_name"])["AccessKeyMetadata"]
    assert (key["AccessKeyId"], key["Status"]) == (active.access_key_id, "Inactive")
    assert registry.get(dynamodb, connection["connection_id"])["rotation"]["stage"] == "OLD_KEY_INACTIVE"
    deactivate_old_key(iam, dynamodb, started, ROTATION_ARN)  # idempotent


def test_only_the_rotation_holding_the_record_writes_it(iam, secrets, dynamodb, connection):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    with pytest.raises(ConnectionBusy):
        deactivate_old_key(iam, dynamodb, started, ROTATION_ARN + "-other")
