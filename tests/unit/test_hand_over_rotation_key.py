from __future__ import annotations

import json

import pytest

from functions.hand_over_rotation_key.app import hand_over_rotation_key
from functions.issue_rotation_key.app import issue_rotation_key
from provisioner_core import registry
from provisioner_core.labellerr_errors import LabellerrTestFailed
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active


class FakeLabellerr:
    def __init__(self, refuse: bool = False) -> None:
        self.tested: list[tuple[str, str, str]] = []
        self.refuse = refuse

    def test_connection(self, key, path, connection_type, data_type):
        self.tested.append((key.access_key_id, path, connection_type))
        if self.refuse:
            raise LabellerrTestFailed("test connection", "Labellerr could not list the bucket", status=400)
        return {"message": f"ok, signed with {key.secret_access_key}"}


def _pending_run(iam, secrets, dynamodb, connection, **labellerr):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    started["labellerr"] = labellerr or {"registered": False}
    issued = issue_rotation_key(iam, secrets, dynamodb, connection, started, ROTATION_ARN)
    return active, started, issued


def test_publishes_pending_then_promotes_the_new_version(iam, secrets, dynamodb, events, connection):
    active, started, issued = _pending_run(iam, secrets, dynamodb, connection)
    result = hand_over_rotation_key(secrets, dynamodb, events, None, started, issued, ROTATION_ARN)
    assert result["event_published"] is True
    assert result["labellerr_tests"] == []
    stages = secrets.describe_secret(SecretId=active.secret_arn)["VersionIdsToStages"]
    assert stages[issued["version_id"]] == ["AWSCURRENT"]
    assert stages[started["old_version_id"]] == ["AWSPREVIOUS"]
    [event] = events.published()
    assert event["detail-type"] == "Connection Key Rotation Pending"
    assert event["detail"]["new_access_key_id"] == issued["access_key_id"]
    assert event["detail"]["secret_version_id"] == issued["version_id"]
    assert "secret_access_key" not in json.dumps(event)
    rotation = registry.get(dynamodb, connection["connection_id"])["rotation"]
    assert rotation["stage"] == "PROMOTED"
    assert rotation["handed_over_at"] <= rotation["promoted_at"]
    # Idempotent: promoting again changes nothing.
    hand_over_rotation_key(secrets, dynamodb, events, None, started, issued, ROTATION_ARN)
    assert secrets.describe_secret(SecretId=active.secret_arn)["VersionIdsToStages"] == stages


def test_labellerr_tests_the_new_key_before_anything_is_promoted(iam, secrets, dynamodb, events, connection):
    connection = {**connection, "access": "import_export"}
    active, started, issued = _pending_run(iam, secrets, dynamodb, connection, registered=True)
    labellerr = FakeLabellerr()
    result = hand_over_rotation_key(
        secrets, dynamodb, events, lambda: labellerr, started, issued, ROTATION_ARN
    )
    assert labellerr.tested == [
        (issued["access_key_id"], "acme-datasets/images/", "import"),
        (issued["access_key_id"], "acme-datasets/images/", "export"),
    ]
    # Labellerr's echo of the secret never reaches the state.
    secret = json.loads(
        secrets.get_secret_value(SecretId=active.secret_arn, VersionId=issued["version_id"])["SecretString"]
    )
    assert all(secret["secret_access_key"] not in t["detail"] for t in result["labellerr_tests"])
    assert all(t["detail"].startswith("ok, signed with") for t in result["labellerr_tests"])


def test_a_key_labellerr_refuses_is_never_promoted(iam, secrets, dynamodb, events, connection):
    active, started, issued = _pending_run(iam, secrets, dynamodb, connection, registered=True)
    with pytest.raises(LabellerrTestFailed):
        hand_over_rotation_key(
            secrets, dynamodb, events, lambda: FakeLabellerr(refuse=True), started, issued, ROTATION_ARN
        )
    stages = secrets.describe_secret(SecretId=active.secret_arn)["VersionIdsToStages"]
    assert stages[started["old_version_id"]] == ["AWSCURRENT"]
    assert events.published() == []
