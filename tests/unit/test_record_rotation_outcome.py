from __future__ import annotations

import json
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.record_rotation_outcome import app
from functions.record_rotation_outcome.app import record_rotation_outcome
from provisioner_core import registry
from tests.support.api_events import FakeContext
from tests.unit.rotation_setup import ROTATION_ARN, begin, make_active

NEW_KEY = {"access_key_id": "AKIANEWKEY0000000001", "secret_arn": "arn:x", "version_id": "v2"}


@pytest.mark.parametrize(
    ("outcome", "run_extra", "current", "detail_type"),
    [
        ("ROTATED", {"new_key": NEW_KEY, "hand_over": {}}, "new", "Connection Key Rotated"),
        ("STALLED", {"new_key": NEW_KEY, "hand_over": {}}, "new", "Connection Key Rotation Stalled"),
        ("ROLLED_BACK", {"new_key": NEW_KEY, "undo": {"current_access_key_id": None}}, "old",
         "Connection Key Rotation Rolled Back"),
        ("FAILED", {"failure": {"Error": "VerificationFailed", "Cause": "{}"}}, "old", "Connection Key Rotation Failed"),
    ],
)  # fmt: skip
def test_every_ending_leaves_the_connection_active_on_a_working_key(
    iam, secrets, dynamodb, events, connection, outcome, run_extra, current, detail_type
):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    result = record_rotation_outcome(
        dynamodb, events, outcome, {"rotation": started, **run_extra}, ROTATION_ARN
    )
    record = registry.get(dynamodb, connection["connection_id"])
    expected = NEW_KEY["access_key_id"] if current == "new" else active.access_key_id
    assert (record["status"], record["access_key_id"], record["rotation"]["stage"]) == (
        "ACTIVE",
        expected,
        outcome,
    )
    assert result["recorded"] is True
    [event] = events.published()
    assert event["detail-type"] == detail_type
    assert event["detail"]["access_key_id"] == expected
    if outcome == "STALLED":
        assert record["rotation_left_behind"] == [
            f"old access key {active.access_key_id} on user {connection['iam_user_name']} (still active)"
        ]


def test_a_refusal_changes_no_record(iam, secrets, dynamodb, events, connection):
    make_active(iam, secrets, dynamodb, connection)
    before = registry.get(dynamodb, connection["connection_id"])
    refusal = {"connection_id": "satellite-images", "refused": True, "error": "BeginRotation.TooManyAccessKeys",
               "cause": json.dumps({"message": "two keys"})}  # fmt: skip
    result = record_rotation_outcome(dynamodb, events, "REFUSED", {"rotation": refusal}, ROTATION_ARN)
    assert registry.get(dynamodb, connection["connection_id"]) == before
    assert result["recorded"] is False
    [event] = events.published()
    assert (event["detail-type"], event["detail"]["error"]) == (
        "Connection Key Rotation Failed", "BeginRotation.TooManyAccessKeys",
    )  # fmt: skip


def test_an_undo_that_stopped_without_a_report_says_the_new_key_may_remain(
    iam, secrets, dynamodb, events, connection
):
    active = make_active(iam, secrets, dynamodb, connection)
    started = begin(iam, secrets, dynamodb, active)
    run = {"rotation": started, "new_key": NEW_KEY, "undo_failure": {"Error": "States.Timeout", "Cause": ""}}
    result = record_rotation_outcome(dynamodb, events, "INTERRUPTED", run, ROTATION_ARN, "Undo rotation")
    assert json.loads(result["cause"])["failed_step"] == "Undo rotation"
    record = registry.get(dynamodb, connection["connection_id"])
    assert record["rotation_left_behind"] == [
        f"new access key {NEW_KEY['access_key_id']} on user {connection['iam_user_name']} "
        "(could not be checked; it may remain)"
    ]
    assert record["access_key_id"] == active.access_key_id


@pytest.mark.parametrize(("outcome", "counted"), [("REFUSED", 1), ("ROLLED_BACK", 0)])
def test_a_failed_rotation_counts_in_the_metric_its_alarm_watches(
    iam, secrets, dynamodb, events, connection, monkeypatch, capsys, outcome, counted
):
    active = make_active(iam, secrets, dynamodb, connection)
    if outcome == "REFUSED":
        run: dict[str, Any] = {"rotation": {"connection_id": "satellite-images", "refused": True,
                                            "error": "BeginRotation.SecretGone", "cause": "{}"}}  # fmt: skip
    else:
        run = {"rotation": begin(iam, secrets, dynamodb, active), "undo": {"current_access_key_id": None}}
    monkeypatch.setattr(app.metrics, "namespace", "LabellerrProvisioner")
    monkeypatch.setattr(app.aws, "client", lambda name, **_: {"dynamodb": dynamodb, "events": events}[name])
    capsys.readouterr()
    app.lambda_handler(
        {"outcome": outcome, "run": run, "execution_arn": ROTATION_ARN}, cast(LambdaContext, FakeContext())
    )
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    failed = [m.get("KeyRotationFailed") for m in emitted if "KeyRotationFailed" in m]
    assert failed == ([[1.0]] if counted else [])
