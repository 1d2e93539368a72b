"""What an EventBridge target receives: JSONPath, InputPath, Input, InputTransformer, and the event log."""

from __future__ import annotations

import json
import threading

import pytest

from provisioner_local.eventbridge import (
    EventLog,
    InputPathError,
    delivered_event,
    is_missing,
    iso_time,
    json_path,
    log_entry,
    target_input,
)

MOTO_EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Connection Requested",
    "source": "labellerr.api",
    "account": "123456789012",
    "time": 1767225600.0,
    "region": "us-east-1",
    "resources": ["arn:x"],
    "detail": {"connection_name": "Demo", "items": [{"n": 1}, {"n": 2}], "weird-key": True},
    "ingestion-time": 1767225600.5,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$", json.loads(json.dumps(delivered_event(MOTO_EVENT)))),
        ("$.detail.connection_name", "Demo"),
        ("$.detail-type", "Connection Requested"),
        ("$.detail.items[1].n", 2),
        ("$['detail']['weird-key']", True),
        ('$["source"]', "labellerr.api"),
        ("$.resources[0]", "arn:x"),
    ],
)
def test_json_path(path, value):
    assert json_path(delivered_event(MOTO_EVENT), path) == value


@pytest.mark.parametrize("path", ["$.nope", "$.detail.items[5]", "$.detail.connection_name.deeper"])
def test_json_path_missing(path):
    assert is_missing(json_path(delivered_event(MOTO_EVENT), path))


@pytest.mark.parametrize("path", ["detail", "$.detail.*", "$..n", "$.items[?(@.n)]"])
def test_json_path_rejects_what_eventbridge_rejects(path):
    with pytest.raises(InputPathError):
        json_path({}, path)


def test_whole_event_by_default_without_motos_fields():
    delivered = json.loads(target_input({"Id": "t", "Arn": "arn"}, MOTO_EVENT, "rule", "arn:rule"))

    assert delivered["time"] == "2026-01-01T00:00:00Z"
    assert "ingestion-time" not in delivered
    assert delivered["detail"] == MOTO_EVENT["detail"]


def test_input_path_and_constant_input():
    assert json.loads(target_input({"InputPath": "$.detail.items"}, MOTO_EVENT, "r", "a")) == [
        {"n": 1},
        {"n": 2},
    ]
    assert target_input({"Input": '{"fixed": 1}'}, MOTO_EVENT, "r", "a") == '{"fixed": 1}'
    with pytest.raises(LookupError):
        target_input({"InputPath": "$.detail.absent"}, MOTO_EVENT, "r", "a")


def test_input_transformer_quotes_like_eventbridge():
    transformer = {
        "InputPathsMap": {"name": "$.detail.connection_name", "items": "$.detail.items", "gone": "$.nope"},
        "InputTemplate": '{"text": "<name> has <items>", "name": <name>, "items": <items>, "gone": <gone>, '
        '"gone_text": "<gone>", "rule": "<aws.events.rule-name>", "event": <aws.events.event.json>, '
        '"unknown": "<unknown>"}',
    }

    delivered = json.loads(
        target_input({"InputTransformer": transformer}, MOTO_EVENT, "the-rule", "arn:rule")
    )

    assert delivered["text"] == 'Demo has [{"n": 1}, {"n": 2}]'
    assert delivered["name"] == "Demo"
    assert delivered["items"] == [{"n": 1}, {"n": 2}]
    assert delivered["gone"] is None
    assert delivered["gone_text"] == ""
    assert delivered["rule"] == "the-rule"
    assert delivered["event"]["id"] == "e-1"
    assert delivered["unknown"] == "<unknown>"


def test_iso_time():
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time("1767225600") == "2026-01-01T00:00:00Z"
    assert iso_time("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"


def test_event_log_filters_copies_and_waits():
    log = EventLog()
    entry = {"Source": "s", "DetailType": "A", "Detail": '{"x": 1}', "Time": 0}
    log.append(log_entry(entry, "id-1", "bus", "123456789012", "us-east-1"))

    (event,) = log.select(detail_type="A")
    assert event == {
        "id": "id-1",
        "bus": "bus",
        "source": "s",
        "detail-type": "A",
        "detail": {"x": 1},
        "time": "1970-01-01T00:00:00Z",
        "resources": [],
        "account": "123456789012",
        "region": "us-east-1",
    }
    assert log.select(bus_name="other") == []
    threading.Timer(0.05, log.append, [{**event, "detail-type": "B"}]).start()
    assert log.wait_for(lambda e: e["detail-type"] == "B", timeout=5)["detail-type"] == "B"
    assert log.wait_for(lambda e: e["detail-type"] == "C", timeout=0.01) is None
