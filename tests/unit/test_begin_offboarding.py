from __future__ import annotations

import json

import pytest

from functions.begin_offboarding.app import begin_offboarding
from functions.register_connection.app import register_connection
from provisioner_core import registry

OFFBOARDING_ARN = "arn:aws:states:us-east-1:123456789012:execution:OffboardConnectionStateMachine:off-1"


def _with_status(dynamodb, connection, status):
    register_connection(dynamodb, connection)
    if status != "PROVISIONING":
        registry.update(
            dynamodb, connection["connection_id"], {"status": status},
            owner_field="execution_arn", owner=connection["execution_arn"],
        )  # fmt: skip


def _refusal(result):
    assert result["refused"] is True
    return result["error"], json.loads(result["cause"])


@pytest.mark.parametrize("status", ["ACTIVE", "FAILED", "ROLLBACK_FAILED"])
def test_marks_the_connection_deprovisioning_for_this_run(dynamodb, sfn, connection, status):
    _with_status(dynamodb, connection, status)
    result = begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)
    assert (result["refused"], result["already_deleted"]) == (False, False)
    assert result["connection"]["iam_user_name"] == "labellerr-satellite-images"
    record = registry.get(dynamodb, "satellite-images")
    assert (record["status"], record["offboarding_execution_arn"]) == ("DEPROVISIONING", OFFBOARDING_ARN)
    # Idempotent for its own run: the API's claim, or this step's retry, is found and kept.
    again = begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)
    assert again["refused"] is False


def test_another_live_offboarding_is_not_taken_over(dynamodb, sfn, connection, monkeypatch):
    _with_status(dynamodb, connection, "ACTIVE")
    begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)
    # Its run is not found, but the claim is young: it may be about to start.
    error, cause = _refusal(
        begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN + "-2")
    )
    assert error == "BeginOffboarding.ConnectionBusy"
    assert cause["offboarding_execution_arn"] == OFFBOARDING_ARN
    # Once the grace period is over, a claim whose run never started is stale and may be taken over.
    monkeypatch.setenv("STALE_CLAIM_SECONDS", "0")
    result = begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN + "-2")
    assert result["refused"] is False
    assert registry.get(dynamodb, "satellite-images")["offboarding_execution_arn"] == OFFBOARDING_ARN + "-2"


def test_deleted_connection_is_already_done(dynamodb, sfn, connection):
    _with_status(dynamodb, connection, "DELETED")
    assert begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN) == {
        "connection_id": "satellite-images",
        "refused": False,
        "already_deleted": True,
    }


def test_provisioning_connection_is_busy_while_its_run_may_live(dynamodb, sfn, connection, monkeypatch):
    _with_status(dynamodb, connection, "PROVISIONING")
    error, cause = _refusal(
        begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)
    )
    assert error == "BeginOffboarding.ConnectionBusy"
    assert "PROVISIONING" in cause["message"]
    # A PROVISIONING claim whose run does not exist (and is past the grace period) holds nothing.
    monkeypatch.setenv("STALE_CLAIM_SECONDS", "0")
    assert (
        begin_offboarding(dynamodb, sfn, {"connection_id": "satellite-images"}, OFFBOARDING_ARN)["refused"]
        is False
    )


def test_unknown_connection_is_not_found(dynamodb, sfn):
    error, cause = _refusal(begin_offboarding(dynamodb, sfn, {"connection_id": "nope"}, OFFBOARDING_ARN))
    assert error == "BeginOffboarding.ConnectionNotFound"
    assert "nope" in cause["message"]


@pytest.mark.parametrize(
    "request_", [{}, {"connection_id": "Bad Id"}, {"connection_id": "x", "more": 1}, [], "x", 7, None]
)
def test_malformed_requests_name_the_field(dynamodb, sfn, request_):
    error, cause = _refusal(begin_offboarding(dynamodb, sfn, request_, OFFBOARDING_ARN))
    assert error == "BeginOffboarding.InvalidRequest"
    assert cause["errors"][0]["field"] in ("request", "connection_id")
    assert "stackTrace" not in json.dumps(cause)
