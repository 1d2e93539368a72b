from __future__ import annotations

import json

import pytest

from functions.record_outcome.app import record_outcome
from functions.register_connection.app import register_connection
from provisioner_core import registry
from provisioner_core.errors import ConnectionBusy
from tests.unit.conftest import EXECUTION_ARN

EVENT_FILE = "events/record_outcome.json"


def _active_run():
    with open(EVENT_FILE) as sample:
        return json.load(sample)["run"]


def _register(dynamodb, run):
    register_connection(dynamodb, run["connection"])
    return run["connection"]["execution_arn"]


def test_active_writes_the_details_and_publishes_provisioned(dynamodb, events):
    run = _active_run()
    execution_arn = _register(dynamodb, run)
    detail = record_outcome(dynamodb, events, "ACTIVE", run, execution_arn, "connections", flow="onboarding")
    record = registry.get(dynamodb, run["connection"]["connection_id"])
    assert record["status"] == "ACTIVE"
    assert record["secret_arn"] == run["access_key"]["secret_arn"]
    assert record["verification"]["verified"] is True
    assert record["cors"]["rules_total"] == 1  # numbers come back as plain ints
    [event] = events.published()
    assert event["source"] == "labellerr.provisioner"
    assert event["detail-type"] == "Connection Provisioned"
    assert detail.pop("event_published") is True
    assert event["detail"] == detail
    assert set(detail) == {
        "connection_id", "status", "bucket", "prefix", "s3_uri", "access", "iam_user_arn", "secret_arn",
        "execution_arn", "labellerr_connection_ids",
    }  # fmt: skip
    assert detail["labellerr_connection_ids"] == run["labellerr"]["labellerr_connection_ids"]
    assert record["labellerr"] == run["labellerr"]


def test_active_without_a_labellerr_result_records_none(dynamodb, events):
    run = _active_run()
    run.pop("labellerr")
    execution_arn = _register(dynamodb, run)
    detail = record_outcome(dynamodb, events, "ACTIVE", run, execution_arn, "connections", flow="onboarding")
    assert detail["labellerr_connection_ids"] == []
    record = registry.get(dynamodb, run["connection"]["connection_id"])
    assert record["labellerr"] == {"registered": False, "labellerr_connection_ids": []}


def test_active_carries_the_labellerr_connections(dynamodb, events):
    labellerr = {
        "registered": True,
        "labellerr_connection_ids": ["lc-1", "lc-2"],
        "test": {"outcome": "passed"},
    }
    run = {**_active_run(), "labellerr": labellerr}
    execution_arn = _register(dynamodb, run)
    detail = record_outcome(dynamodb, events, "ACTIVE", run, execution_arn, "connections", flow="onboarding")
    assert detail["labellerr_connection_ids"] == ["lc-1", "lc-2"]
    assert registry.get(dynamodb, run["connection"]["connection_id"])["labellerr"] == labellerr


def test_failed_records_the_error(dynamodb, events):
    run = {**_active_run(), "rollback": {"error": "IssueAccessKey.InjectedFault", "cause": "{}"}}
    for key in ("access_key", "verification"):
        run.pop(key)
    execution_arn = _register(dynamodb, run)
    detail = record_outcome(dynamodb, events, "FAILED", run, execution_arn, "connections", flow="onboarding")
    assert detail["error"] == {"error": "IssueAccessKey.InjectedFault", "cause": "{}"}
    assert registry.get(dynamodb, run["connection"]["connection_id"])["status"] == "FAILED"
    assert events.published()[0]["detail-type"] == "Connection Failed"


def test_rollback_failed_lists_what_is_left(dynamodb, events):
    cause = {
        "failed_step": "Verify access",
        "left_behind": ["secret labellerr/connections/x"],
        "rolled_back": [],
    }
    run = {
        **_active_run(),
        "rollback": {"complete": False, "left_behind": cause["left_behind"], "cause": json.dumps(cause)},
    }
    execution_arn = _register(dynamodb, run)
    detail = record_outcome(
        dynamodb, events, "ROLLBACK_FAILED", run, execution_arn, "connections", flow="onboarding"
    )
    assert detail["left_behind"] == ["secret labellerr/connections/x"]
    record = registry.get(dynamodb, run["connection"]["connection_id"])
    assert (record["status"], record["left_behind"]) == (
        "ROLLBACK_FAILED",
        ["secret labellerr/connections/x"],
    )
    assert events.published()[0]["detail-type"] == "Connection Rollback Failed"
    # The cause is one JSON object: no JSON inside its strings, no stack trace.
    recorded_cause = json.loads(detail["error"]["cause"])
    assert recorded_cause["left_behind"] == ["secret labellerr/connections/x"]
    assert json.loads(record["error"]["cause"]) == recorded_cause


def test_a_rollback_that_crashed_is_recorded_as_unknown_with_the_way_out(dynamodb, events):
    envelope = {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Task timed out",
        "stackTrace": ["/var/task/x"],
    }
    run = {**_active_run(), "rollback_failure": {"Error": "States.Timeout", "Cause": json.dumps(envelope)}}
    execution_arn = _register(dynamodb, run)
    detail = record_outcome(
        dynamodb, events, "ROLLBACK_FAILED", run, execution_arn, "connections",
        flow="onboarding", failed_state="Rollback",
    )  # fmt: skip
    [entry] = detail["left_behind"]
    assert entry.startswith("unknown: the cleanup stopped with States.Timeout")
    assert "DELETE /connections/" in entry
    assert "/var/task" not in detail["error"]["cause"]
    # The state machine said which state stopped; nothing is guessed from the run's keys.
    assert json.loads(detail["error"]["cause"])["failed_step"] == "Rollback"


def test_the_flow_is_what_the_state_machine_says(dynamodb, events):
    run = _active_run()
    execution_arn = _register(dynamodb, run)
    with pytest.raises(ValueError, match="flow must be one of"):
        record_outcome(dynamodb, events, "ACTIVE", run, execution_arn, "connections", flow="elsewhere")


def test_an_event_that_cannot_be_published_never_fails_the_outcome(dynamodb, events):
    run = _active_run()
    execution_arn = _register(dynamodb, run)
    from botocore.stub import Stubber

    with Stubber(events) as stub:
        for _ in range(3):
            stub.add_client_error("put_events", "InternalException", "down")
        detail = record_outcome(
            dynamodb, events, "ACTIVE", run, execution_arn, "connections", flow="onboarding"
        )
    assert detail["event_published"] is False
    assert registry.get(dynamodb, run["connection"]["connection_id"])["status"] == "ACTIVE"


def test_a_rejected_request_publishes_failed_without_a_record(dynamodb, events):
    run = {
        "request": ["not", "an", "object"],
        "rollback": {"error": "ValidateRequest.InvalidRequest", "cause": "{}"},
    }
    detail = record_outcome(dynamodb, events, "FAILED", run, EXECUTION_ARN, "connections", flow="onboarding")
    assert detail["connection_id"] is None
    assert dynamodb.scan(TableName="ConnectionsTable")["Items"] == []
    assert events.published()[0]["detail"]["status"] == "FAILED"


def test_a_run_never_overwrites_a_record_it_does_not_hold(dynamodb, events):
    run = _active_run()
    _register(dynamodb, run)
    with pytest.raises(ConnectionBusy):
        record_outcome(
            dynamodb, events, "ACTIVE", run, EXECUTION_ARN + "-someone-else", "connections", flow="onboarding"
        )
    assert registry.get(dynamodb, run["connection"]["connection_id"])["status"] == "PROVISIONING"
    assert events.published() == []


def test_a_run_rejected_before_registering_closes_the_record_the_api_claimed(dynamodb, events):
    """The API claims PROVISIONING for the execution it starts; a validation failure must not leave it so."""
    registry.claim(
        dynamodb, {"connection_id": "typo-bucket", "execution_arn": EXECUTION_ARN, "bucket": "acme-typo"}
    )
    run = {"request": {"connection_name": "x", "connection_id": "typo-bucket", "bucket": "acme-typo"},
           "rollback": {"error": "ValidateRequest.BucketNotFound", "cause": "{}"}}  # fmt: skip
    detail = record_outcome(dynamodb, events, "FAILED", run, EXECUTION_ARN, "connections", flow="onboarding")
    assert detail["status"] == "FAILED"
    assert registry.get(dynamodb, "typo-bucket")["status"] == "FAILED"
