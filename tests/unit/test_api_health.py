"""The health check's doors in the HTTP API against moto: POST /connections/{id}/health-checks and /repairs
start the health state machine (202, 404, 409), and GET /connections filters by `health.status`."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

# As Lambda imports it: `app` from the function's directory (on pythonpath).
import app as api
import boto3
import pytest

from provisioner_core import aws as aws_clients
from provisioner_core import registry
from tests.support.api_events import TEMPLATE, call, http_event

ROLE_ARN = "arn:aws:iam::123456789012:role/states"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
ROUTES = {False: "health-checks", True: "repairs"}


def _health(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "checked_at": "2026-01-01T00:00:00.000Z",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:stack-health:sat-check-1",
        "findings": [
            {
                "check": "cors",
                "outcome": "passed" if status == "HEALTHY" else "failed",
                "detail": "d",
                "repairable": True,
            }
        ],
    }


@pytest.fixture
def env(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    dynamodb = boto3.client("dynamodb")
    properties = TEMPLATE["Resources"]["ConnectionsTable"]["Properties"]
    dynamodb.create_table(
        TableName="ConnectionsTable",
        BillingMode=properties["BillingMode"],
        **{k: properties[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")},
    )
    sfn = boto3.client("stepfunctions")
    health = sfn.create_state_machine(name="stack-health", definition=DEFINITION, roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    monkeypatch.setenv("CONNECTIONS_TABLE", "ConnectionsTable")
    monkeypatch.setenv("HEALTH_STATE_MACHINE_ARN", health)
    aws_clients.reset_clients()
    yield SimpleNamespace(dynamodb=dynamodb, sfn=sfn, health=health)
    aws_clients.reset_clients()


def put_record(env: Any, connection_id: str, status: str, **fields: Any) -> dict[str, Any]:
    record = {
        "connection_id": connection_id,
        "connection_name": connection_id,
        "bucket": "acme-datasets",
        "prefix": "",
        "s3_uri": "acme-datasets",
        "access": "import",
        "status": status,
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
        **fields,
    }
    env.dynamodb.put_item(TableName="ConnectionsTable", Item=registry.to_item(record))
    return record


def executions(env: Any) -> list[dict[str, Any]]:
    return env.sfn.list_executions(stateMachineArn=env.health)["executions"]


def errors(body: Any) -> list[dict[str, str]]:
    assert set(body) == {"errors"}
    for error in body["errors"]:
        assert set(error) == {"field", "message"}
    return body["errors"]


# --- POST /connections/{id}/health-checks and /repairs -------------------------------------------------


@pytest.mark.parametrize("repair", [False, True])
@pytest.mark.parametrize("live", ["ACTIVE", "ROTATING"])
def test_a_check_or_repair_starts_one_health_run_and_answers_202(env, repair, live):
    put_record(env, "sat-01", live)
    status, body, headers = call(http_event("POST", f"/connections/sat-01/{ROUTES[repair]}"))

    assert status == 202, body
    [execution] = executions(env)
    assert body == {
        "connection_id": "sat-01",
        "execution_arn": execution["executionArn"],
        "repair": repair,
        "url": "/connections/sat-01",
    }
    assert headers["Location"] == "/connections/sat-01"
    assert execution["name"].startswith(f"sat-01-{'repair' if repair else 'check'}-")
    described = env.sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"connection_id": "sat-01", "repair": repair}


def test_each_check_is_a_run_of_its_own(env):
    put_record(env, "sat-01", "ACTIVE")
    first = call(http_event("POST", "/connections/sat-01/health-checks"))[1]["execution_arn"]
    second = call(http_event("POST", "/connections/sat-01/health-checks"))[1]["execution_arn"]
    assert first != second
    assert len(executions(env)) == 2


@pytest.mark.parametrize("repair", [False, True])
@pytest.mark.parametrize("connection_id", ["nope", "Not-An-Id", "x" * 300])
def test_an_unknown_connection_is_a_404_and_starts_nothing(env, repair, connection_id):
    status, body, _ = call(http_event("POST", f"/connections/{connection_id}/{ROUTES[repair]}"))
    assert status == 404
    [error] = errors(body)
    assert error["field"] == "connection_id"
    assert executions(env) == []


@pytest.mark.parametrize("repair", [False, True])
@pytest.mark.parametrize(
    "settled", ["PROVISIONING", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING", "DELETED"]
)
def test_a_connection_without_a_live_key_is_a_409_naming_its_status_and_the_rule(env, repair, settled):
    put_record(env, "sat-01", settled)
    status, body, _ = call(http_event("POST", f"/connections/sat-01/{ROUTES[repair]}"))
    assert status == 409
    [error] = errors(body)
    assert error["field"] == "connection_id"
    assert settled in error["message"]
    assert "only an ACTIVE or ROTATING connection" in error["message"]
    assert executions(env) == []


def test_the_log_names_the_run_and_nothing_else(env, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(api.logger.registered_handler, "stream", stream)
    put_record(env, "sat-01", "ACTIVE", secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:x")
    call(http_event("POST", "/connections/sat-01/repairs"))
    [line] = [json.loads(line) for line in stream.getvalue().splitlines() if "accepted" in line]
    assert line["message"] == "Repair accepted"
    assert line["connection_id"] == "sat-01"
    assert line["execution_arn"] == executions(env)[0]["executionArn"]
    assert "secret" not in json.dumps(line)


# --- health in GET and the list ------------------------------------------------------------------------


def test_get_shows_the_records_health(env):
    record = put_record(env, "sat-01", "ACTIVE", health=_health("DEGRADED"))
    status, body, _ = call(http_event("GET", "/connections/sat-01"))
    assert status == 200
    assert body["health"] == record["health"]


@pytest.fixture
def checked(env: Any) -> Any:
    for i, health in enumerate(["HEALTHY", "BROKEN", "DEGRADED", "BROKEN", "HEALTHY", "BROKEN"]):
        put_record(
            env, f"c-{i}", "ACTIVE", bucket="bucket-a" if i % 2 else "bucket-b", health=_health(health)
        )
    put_record(env, "never-checked", "ACTIVE", bucket="bucket-a")
    put_record(env, "failed-1", "FAILED", bucket="bucket-a", health=_health("BROKEN"))
    return env


def _list_all(query: dict[str, str]) -> list[dict[str, Any]]:
    found, token = [], None
    while True:
        status, body, _ = call(
            http_event("GET", "/connections", query={**query, **({"next_token": token} if token else {})})
        )
        assert status == 200, body
        found += body["connections"]
        token = body["next_token"]
        if token is None:
            return found


def test_the_list_filters_by_health_across_pages(checked):
    broken = _list_all({"health": "BROKEN", "limit": "1"})
    assert sorted(c["connection_id"] for c in broken) == ["c-1", "c-3", "c-5", "failed-1"]
    assert {c["health"]["status"] for c in broken} == {"BROKEN"}
    assert sorted(c["connection_id"] for c in _list_all({"health": "HEALTHY"})) == ["c-0", "c-4"]


def test_the_health_filter_combines_with_status_and_bucket(checked):
    assert sorted(c["connection_id"] for c in _list_all({"health": "BROKEN", "status": "ACTIVE"})) == [
        "c-1",
        "c-3",
        "c-5",
    ]
    query = {"health": "BROKEN", "status": "FAILED", "bucket": "bucket-a", "limit": "2"}
    assert [c["connection_id"] for c in _list_all(query)] == ["failed-1"]


def test_the_list_shows_health_and_an_empty_filter_is_none(checked):
    listed = {c["connection_id"]: c for c in _list_all({"health": ""})}
    assert len(listed) == 8
    assert listed["c-2"]["health"]["status"] == "DEGRADED"
    assert "health" not in listed["never-checked"]


@pytest.mark.parametrize("value", ["OK", "broken", "UNKNOWN", "HEALTHY,BROKEN"])
def test_a_bad_health_filter_is_a_400_naming_the_field_and_the_allowed_values(checked, value):
    status, body, _ = call(http_event("GET", "/connections", query={"health": value}))
    assert status == 400
    [error] = errors(body)
    assert error["field"] == "health"
    assert error["message"] == "must be one of HEALTHY, DEGRADED, BROKEN"
