from __future__ import annotations

import pytest

from functions.begin_offboarding.app import begin_offboarding
from functions.register_connection.app import register_connection
from provisioner_core import registry
from provisioner_core.errors import ConnectionBusy, ConnectionNotFound, InvalidRequest

OFFBOARDING_ARN = "arn:aws:states:us-east-1:123456789012:execution:OffboardConnectionStateMachine:off-1"


def _with_status(dynamodb, connection, status):
    register_connection(dynamodb, connection)
    if status != "PROVISIONING":
        registry.update(
            dynamodb, connection["connection_id"], {"status": status},
            owner_field="execution_arn", owner=connection["execution_arn"],
        )  # fmt: skip


@pytest.mark.parametrize("status", ["ACTIVE", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING"])
def test_marks_the_connection_deprovisioning_for_this_run(dynamodb, connection, status):
    _with_status(dynamodb, connection, status)
    result = begin_offboarding(dynamodb, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)
    assert result["already_deleted"] is False
    assert result["connection"]["iam_user_name"] == "labellerr-satellite-images"
    record = registry.get(dynamodb, "satellite-images")
    assert (record["status"], record["offboarding_execution_arn"]) == ("DEPROVISIONING", OFFBOARDING_ARN)


def test_deleted_connection_is_already_done(dynamodb, connection):
    _with_status(dynamodb, connection, "DELETED")
    assert begin_offboarding(dynamodb, {"connection_id": "satellite-images"}, OFFBOARDING_ARN) == {
        "connection_id": "satellite-images",
        "already_deleted": True,
    }


def test_provisioning_connection_is_busy(dynamodb, connection):
    _with_status(dynamodb, connection, "PROVISIONING")
    with pytest.raises(ConnectionBusy, match="PROVISIONING"):
        begin_offboarding(dynamodb, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)


def test_unknown_connection_is_not_found(dynamodb):
    with pytest.raises(ConnectionNotFound, match="connection_id"):
        begin_offboarding(dynamodb, {"connection_id": "nope"}, OFFBOARDING_ARN)


@pytest.mark.parametrize("request_", [{}, {"connection_id": "Bad Id"}, {"connection_id": "x", "more": 1}, []])
def test_malformed_requests_name_the_field(dynamodb, request_):
    with pytest.raises(InvalidRequest):
        begin_offboarding(dynamodb, request_, OFFBOARDING_ARN)
