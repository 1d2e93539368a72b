from __future__ import annotations

from functions.check_rotation_grace.app import check_rotation_grace
from provisioner_core import registry, rotation
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active


def test_the_grace_period_is_its_number_of_checks(iam, secrets, dynamodb, connection):
    started = begin(iam, secrets, dynamodb, make_active(iam, secrets, dynamodb, connection))
    checks = started["timing"]["grace_checks"]
    assert check_rotation_grace(dynamodb, started, checks - 1, ROTATION_ARN)["over"] is False
    assert check_rotation_grace(dynamodb, started, checks, ROTATION_ARN) == {
        "abandoned": False, "rollback": False, "rollback_requested_at": None, "over": True,
        "checks_done": checks + 1,
    }  # fmt: skip


def test_a_rollback_request_for_this_rotation_wins(iam, secrets, dynamodb, connection):
    started = begin(iam, secrets, dynamodb, make_active(iam, secrets, dynamodb, connection))
    registry.update(
        dynamodb, connection["connection_id"],
        {rotation.ROLLBACK_REQUEST_FIELD: {"rotation_id": started["rotation_id"], "at": "2026-12-02T00:00:00Z"}},
        owner_field=rotation.HOLDER_FIELD, owner=ROTATION_ARN,
    )  # fmt: skip
    result = check_rotation_grace(dynamodb, started, 99, ROTATION_ARN)
    assert (result["rollback"], result["over"]) == (True, False)
