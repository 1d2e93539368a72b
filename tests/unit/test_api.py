"""The HTTP API function against moto: every route, status code and the Idempotency-Key contract."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# As Lambda imports it: `app` and its package provisioner_api from the function's directory (on pythonpath).
import app as api
import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner_api import onboarding
from provisioner_core import aws as aws_clients
from provisioner_core import idempotency, registry
from provisioner_local import dynamodb_atomicity
from scripts.generate_openapi import OUTPUTS, build_document, render
from tests.support.api_events import TEMPLATE, call, http_event

ROOT = Path(__file__).resolve().parents[2]
BODY: dict[str, Any] = {"connection_name": "Satellite images", "s3_uri": "acme-datasets/images/"}
ROLE_ARN = "arn:aws:iam::123456789012:role/states"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def _create_table(dynamodb: Any, logical_id: str) -> str:
    """The table exactly as template.yaml keys it, named after its logical id."""
    properties = TEMPLATE["Resources"][logical_id]["Properties"]
    kwargs = {
        k: properties[k]
        for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
        if k in properties
    }
    dynamodb.create_table(TableName=logical_id, BillingMode=properties["BillingMode"], **kwargs)
    return logical_id


@pytest.fixture
def env(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The API's claims are conditional writes, and this file's concurrency tests send requests from threads:
    # moto must make each write atomic, as DynamoDB does.
    # monkeypatch puts moto back after the test.
    dynamodb_atomicity.install(
        SimpleNamespace(set=lambda target, value: monkeypatch.setattr(target.owner(), target.name, value))
    )
    dynamodb = boto3.client("dynamodb")
    sfn = boto3.client("stepfunctions")
    onboard = sfn.create_state_machine(name="Onboard", definition=DEFINITION, roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    offboard = sfn.create_state_machine(name="Offboard", definition=DEFINITION, roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    variables = {
        "CONNECTIONS_TABLE": _create_table(dynamodb, "ConnectionsTable"),
        "IDEMPOTENCY_TABLE": _create_table(dynamodb, "IdempotencyTable"),
        "ONBOARD_STATE_MACHINE_ARN": onboard,
        "OFFBOARD_STATE_MACHINE_ARN": offboard,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    aws_clients.reset_clients()
    yield SimpleNamespace(dynamodb=dynamodb, sfn=sfn, onboard=onboard, offboard=offboard)
    aws_clients.reset_clients()


def post(body: Any = None, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    return call(http_event("POST", "/connections", body=body, **kwargs))


def executions(env: Any, machine: str = "onboard") -> list[dict[str, Any]]:
    return env.sfn.list_executions(stateMachineArn=getattr(env, machine))["executions"]


def execution_input(env: Any, execution_arn: str) -> dict[str, Any]:
    return json.loads(env.sfn.describe_execution(executionArn=execution_arn)["input"])


def put_record(env: Any, connection_id: str, status: str, **fields: Any) -> dict[str, Any]:
    record = {
        "connection_id": connection_id,
        "connection_name": connection_id,
        "bucket": "acme-datasets",
        "prefix": "",
        "s3_uri": "acme-datasets",
        "access": "import",
        "status": status,
        "execution_arn": f"{env.onboard.replace(':stateMachine:', ':execution:')}:{connection_id}",
        "created_at": "2025-01-01T00:00:00.000Z",
        "updated_at": "2025-01-01T00:00:00.000Z",
        **fields,
    }
    env.dynamodb.put_item(TableName="ConnectionsTable", Item=registry.to_item(record))
    return record


def assert_errors(body: Any) -> list[dict[str, str]]:
    assert set(body) == {"errors"}
    assert body["errors"]
    for error in body["errors"]:
        assert set(error) == {"field", "message"}
        assert error["field"]
        assert error["message"]
    return body["errors"]


# --- POST /connections ---------------------------------------------------------------------------------


def test_post_claims_the_id_and_starts_the_onboarding_run_named_after_it(env):
    status, body, headers = post(BODY)

    assert status == 202
    connection_id = body["connection_id"]
    assert connection_id.startswith("satellite-images-")
    expected_arn = f"{env.onboard.replace(':stateMachine:', ':execution:')}:{connection_id}"
    assert body == {
        "connection_id": connection_id,
        "status": "PROVISIONING",
        "execution_arn": expected_arn,
        "url": f"/connections/{connection_id}",
    }
    assert headers["Location"] == f"/connections/{connection_id}"
    record = registry.get(env.dynamodb, connection_id)
    assert record["status"] == "PROVISIONING"
    assert record["execution_arn"] == expected_arn
    assert (record["bucket"], record["prefix"], record["s3_uri"]) == (
        "acme-datasets",
        "images/",
        "acme-datasets/images/",
    )
    assert record["connection_name"] == "Satellite images"
    assert record["access"] == "import"
    assert record["created_at"]
    [execution] = executions(env)
    assert execution["name"] == connection_id
    assert execution["executionArn"] == expected_arn
    assert execution_input(env, expected_arn) == {**BODY, "connection_id": connection_id}


def test_post_keeps_a_given_connection_id_and_accepts_a_charset_and_base64(env):
    status, body, _ = post(
        {**BODY, "connection_id": "sat-01"},
        headers={"Content-Type": "application/json; charset=utf-8"},
        base64_body=True,
    )
    assert status == 202
    assert body["connection_id"] == "sat-01"
    assert [e["name"] for e in executions(env)] == ["sat-01"]


def test_post_lists_every_violation_at_once_and_starts_nothing(env):
    status, body, _ = post(
        {"connection_name": "", "s3_uri": "Bad_Bucket/x", "access": "admin", "role": "x"},
        headers={"Idempotency-Key": "has space"},
    )
    assert status == 400
    fields = {error["field"] for error in assert_errors(body)}
    assert fields >= {"connection_name", "s3_uri", "access", "role", "Idempotency-Key"}
    assert executions(env) == []
    assert env.dynamodb.scan(TableName="ConnectionsTable")["Items"] == []


def test_post_asking_for_labellerr_on_a_stack_without_credentials_is_a_400_naming_the_field(env):
    # The unit environment has no LabellerrCredentialsSecretArn, as a stack deployed without one.
    status, body, _ = post({**BODY, "register_in_labellerr": True})
    assert status == 400
    [error] = assert_errors(body)
    assert error["field"] == "register_in_labellerr"
    assert executions(env) == []
    assert post({**BODY, "register_in_labellerr": False, "labellerr_data_type": "video"})[0] == 202


@pytest.mark.parametrize("raw_body", ["{not json", "", '{"connection_name": NaN}', "[" * 5000 + "]" * 5000])
def test_post_invalid_json_is_a_400_about_the_body(env, raw_body):
    status, body, _ = post(raw_body=raw_body)
    assert status == 400
    assert assert_errors(body) == [{"field": "body", "message": "is not valid JSON"}]


@pytest.mark.parametrize("raw_body", ["[1, 2]", '"text"', "null", "3"])
def test_post_json_that_is_not_an_object_is_a_400(env, raw_body):
    status, body, _ = post(raw_body=raw_body)
    assert status == 400
    assert assert_errors(body) == [{"field": "body", "message": "must be a JSON object"}]
    assert executions(env) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_post_with_another_content_type_is_a_415(env, content_type):
    event = http_event("POST", "/connections", body=BODY)
    event["headers"].pop("content-type")
    if content_type:
        event["headers"]["content-type"] = content_type
    status, body, _ = call(event)
    assert status == 415
    assert assert_errors(body)[0]["field"] == "Content-Type"
    assert executions(env) == []


def test_post_over_64_kb_is_a_413_and_64_kb_exactly_is_accepted(env):
    text = json.dumps(BODY)
    exactly = text + " " * (64 * 1024 - len(text))
    assert post(raw_body=exactly)[0] == 202
    status, body, _ = post(raw_body=exactly + " ")
    assert status == 413
    assert assert_errors(body)[0]["field"] == "body"
    assert len(executions(env)) == 1


@pytest.mark.parametrize("live", ["PROVISIONING", "ACTIVE", "DEPROVISIONING", "ROLLBACK_FAILED"])
def test_post_for_a_live_id_is_a_409_and_starts_nothing(env, live):
    request = {**BODY, "connection_id": "sat-01"}
    assert post(request)[0] == 202
    if live != "PROVISIONING":
        registry.update(env.dynamodb, "sat-01", {"status": live}, owner_field="status", owner="PROVISIONING")
    status, body, _ = post({**request, "access": "import_export"})
    assert status == 409
    [error] = assert_errors(body)
    assert error["field"] == "connection_id"
    assert live in error["message"]
    assert len(executions(env)) == 1
    assert registry.get(env.dynamodb, "sat-01")["access"] == "import"


@pytest.mark.parametrize("earlier", [None, "FAILED"])
def test_a_claim_raced_by_another_request_is_a_409_and_starts_nothing(env, monkeypatch, earlier):
    """Two requests for one id predict the same execution ARN: only the registry write may decide."""
    if earlier:
        put_record(env, "sat-01", earlier)
    dynamodb = aws_clients.client("dynamodb")
    read = dynamodb.get_item

    def read_then_lose_the_race(**kwargs: Any) -> Any:
        response = read(**kwargs)
        if kwargs["TableName"] == "ConnectionsTable":
            put_record(env, "sat-01", "PROVISIONING", updated_at="2025-06-01T00:00:00.000Z")
        return response

    with monkeypatch.context() as patch:
        patch.setattr(dynamodb, "get_item", read_then_lose_the_race)
        status, body, _ = post({**BODY, "connection_id": "sat-01"})

    assert status == 409
    assert assert_errors(body)[0]["field"] == "connection_id"
    assert executions(env) == []


def test_post_again_after_failed_names_the_run_id_dash_2(env):
    request = {**BODY, "connection_id": "sat-01"}
    assert post(request)[0] == 202
    registry.update(env.dynamodb, "sat-01", {"status": "FAILED"}, owner_field="status", owner="PROVISIONING")

    status, body, _ = post(request)

    assert status == 202
    assert body["execution_arn"].endswith(":sat-01-2")
    assert registry.get(env.dynamodb, "sat-01")["execution_arn"] == body["execution_arn"]
    assert sorted(e["name"] for e in executions(env)) == ["sat-01", "sat-01-2"]


def test_post_moves_past_names_used_by_runs_the_registry_does_not_know(env):
    env.sfn.start_execution(stateMachineArn=env.onboard, name="sat-01", input="{}")
    env.sfn.start_execution(stateMachineArn=env.onboard, name="sat-01-2", input="{}")

    status, body, _ = post({**BODY, "connection_id": "sat-01"})

    assert status == 202
    assert body["execution_arn"].endswith(":sat-01-3")
    record = registry.get(env.dynamodb, "sat-01")
    assert (record["status"], record["execution_arn"]) == ("PROVISIONING", body["execution_arn"])


def test_a_run_that_cannot_start_leaves_a_reusable_record_and_no_aws_details(env, monkeypatch):
    sfn = aws_clients.client("stepfunctions")

    def refuse(**kwargs: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ExecutionLimitExceeded", "Message": "internal detail"}}, "StartExecution"
        )

    with monkeypatch.context() as patch:
        patch.setattr(sfn, "start_execution", refuse)
        status, body, _ = post({**BODY, "connection_id": "sat-01"})

    assert status == 500
    assert assert_errors(body)[0]["field"] == "request"
    assert "ExecutionLimitExceeded" not in json.dumps(body)
    assert "internal detail" not in json.dumps(body)
    assert registry.get(env.dynamodb, "sat-01")["status"] == "FAILED"
    assert post({**BODY, "connection_id": "sat-01"})[0] == 202


def test_the_log_never_carries_the_body(env, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(api.logger.registered_handler, "stream", stream)
    post({"connection_name": "Satellite images", "s3_uri": "zz-private-bucket-name/secret-prefix/"})
    logged = stream.getvalue()
    assert "Onboarding accepted" in logged
    assert "zz-private-bucket-name" not in logged
    assert "secret-prefix" not in logged


# --- Idempotency-Key -----------------------------------------------------------------------------------


def idempotency_items(env: Any) -> list[dict[str, Any]]:
    return list(env.dynamodb.scan(TableName="IdempotencyTable", ConsistentRead=True)["Items"])


def lose_stored_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Storing the answer fails, as when the invocation dies right after starting the run."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    def fail(self: Any, *args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "UpdateItem")

    monkeypatch.setattr(DynamoDBPersistenceLayer, "save_success", fail)


def test_same_key_same_body_answers_the_same_and_starts_one_run(env):
    key = {"Idempotency-Key": "k-1"}
    first = post(BODY, headers=key)
    reordered = json.dumps(dict(reversed(list(BODY.items()))), indent=2)
    second = post(raw_body=reordered, headers=key)

    assert first[0] == second[0] == 202
    assert first[1] == second[1]
    assert second[2]["Location"] == first[2]["Location"]
    assert second[2].get("Idempotent-Replayed") == "true"
    assert first[2].get("Idempotent-Replayed") is None
    assert len(executions(env)) == 1
    # Powertools' record, under the table's own key and TTL attribute names.
    [item] = idempotency_items(env)
    assert item["idempotency_key"]["S"].startswith(f"{idempotency.KEY_PREFIX}#")
    assert "k-1" not in item["idempotency_key"]["S"]
    assert item["status"]["S"] == "COMPLETED"
    assert json.loads(item["data"]["S"]) == first[1]
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 24 * 3600)) < 60


def test_a_derived_id_comes_from_the_key(env):
    first = post(BODY, headers={"Idempotency-Key": "k-a"})[1]["connection_id"]
    other = post(BODY, headers={"Idempotency-Key": "k-b"})[1]["connection_id"]
    assert first.startswith("satellite-images-")
    assert other.startswith("satellite-images-")
    assert first != other
    assert len(executions(env)) == 2


def test_same_key_different_body_is_a_422(env):
    assert post(BODY, headers={"Idempotency-Key": "k-1"})[0] == 202
    status, body, _ = post({**BODY, "access": "import_export"}, headers={"Idempotency-Key": "k-1"})
    assert status == 422
    assert assert_errors(body)[0]["field"] == "Idempotency-Key"
    assert len(executions(env)) == 1


def test_concurrent_posts_with_one_key_start_exactly_one_run(env, monkeypatch):
    from moto.dynamodb.models import DynamoDBBackend
    from moto.stepfunctions.models import StepFunctionBackend

    # DynamoDB applies a conditional write atomically; moto's in-memory backend needs a lock to do so.
    lock = threading.Lock()
    for method in ("put_item", "update_item"):
        original = getattr(DynamoDBBackend, method)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, method, locked)
    # A slow StartExecution keeps the first request in flight while the second arrives.
    slow_start = StepFunctionBackend.start_execution

    def start_slowly(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return slow_start(self, *args, **kwargs)

    monkeypatch.setattr(StepFunctionBackend, "start_execution", start_slowly)
    barrier = threading.Barrier(3)
    results: list[tuple[int, Any, dict[str, str]]] = []

    def send() -> None:
        barrier.wait()
        results.append(post(BODY, headers={"Idempotency-Key": "k-concurrent"}))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [status for status, _, _ in results] == [202, 202, 202]
    assert len({body["connection_id"] for _, body, _ in results}) == 1
    assert len(executions(env)) == 1


def test_a_key_still_in_progress_is_a_409_after_a_bounded_wait(env, monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    # The first request holds the key and has not claimed or started anything yet.
    holding, release = threading.Event(), threading.Event()
    original = onboarding.start_onboarding

    def held(*args: Any, **kwargs: Any) -> Any:
        holding.set()
        release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(onboarding, "start_onboarding", held)
    results: list[tuple[int, Any, dict[str, str]]] = []
    first = threading.Thread(target=lambda: results.append(post(BODY, headers={"Idempotency-Key": "k-busy"})))
    first.start()
    assert holding.wait(10)
    started = time.monotonic()
    status, body, _ = post(BODY, headers={"Idempotency-Key": "k-busy"})
    elapsed = time.monotonic() - started
    release.set()
    first.join(timeout=30)
    assert status == 409
    assert assert_errors(body)[0]["field"] == "Idempotency-Key"
    assert 0.3 <= elapsed < 5
    assert [result[0] for result in results] == [202]
    assert len(executions(env)) == 1


def test_a_run_whose_answer_was_lost_is_answered_while_its_key_is_in_progress(env, monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.2)
    lose_stored_answers(monkeypatch)
    first = post(BODY, headers={"Idempotency-Key": "k-lost"})
    assert first[0] == 202
    [item] = idempotency_items(env)
    assert item["status"]["S"] == "INPROGRESS"
    again = post(BODY, headers={"Idempotency-Key": "k-lost"})
    assert again[0] == 202
    assert again[1] == first[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert len(executions(env)) == 1


def test_a_dead_invocations_key_is_taken_over_and_gets_its_run(env, monkeypatch):
    with monkeypatch.context() as dying:
        lose_stored_answers(dying)
        status, body, _ = post(BODY, headers={"Idempotency-Key": "k-dead"})
    assert status == 202
    # The dead invocation's in-progress expiry (its Lambda deadline) is over: the next request takes over.
    [item] = idempotency_items(env)
    env.dynamodb.update_item(
        TableName="IdempotencyTable",
        Key={"idempotency_key": item["idempotency_key"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time() * 1000) - 1000)}},
    )
    again = post(BODY, headers={"Idempotency-Key": "k-dead"})
    # It derives the same id from the key and adopts the run the dead invocation started.
    assert again[0] == 202
    assert again[1] == body
    assert len(executions(env)) == 1
    [item] = idempotency_items(env)
    assert item["status"]["S"] == "COMPLETED"


def test_a_key_whose_request_failed_can_be_used_again(env):
    put_record(env, "sat-01", "ACTIVE")
    request = {**BODY, "connection_id": "sat-01"}
    assert post(request, headers={"Idempotency-Key": "k-retry"})[0] == 409
    registry.update(env.dynamodb, "sat-01", {"status": "DELETED"}, owner_field="status", owner="ACTIVE")
    assert post(request, headers={"Idempotency-Key": "k-retry"})[0] == 202
    assert len(executions(env)) == 1


# --- GET /connections/{connection_id} ------------------------------------------------------------------


def test_get_returns_the_registry_record(env):
    record = put_record(env, "sat-01", "ACTIVE", secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:x")
    status, body, _ = call(http_event("GET", "/connections/sat-01"))
    assert status == 200
    # Plus the user's keys as IAM has them: this record names no user, so IAM cannot say.
    assert body == {**record, "keys": None}


@pytest.mark.parametrize("connection_id", ["nope", "Not-An-Id", "x" * 3000])
def test_get_an_unknown_connection_is_a_404(env, connection_id):
    status, body, _ = call(http_event("GET", f"/connections/{connection_id}"))
    assert status == 404
    [error] = assert_errors(body)
    assert error["field"] == "connection_id"
    assert error["message"].startswith("no connection")


# --- GET /connections ----------------------------------------------------------------------------------


@pytest.fixture
def listed(env: Any) -> Any:
    for i in range(5):
        put_record(env, f"a-{i}", "ACTIVE" if i % 2 == 0 else "FAILED", bucket="bucket-a")
    for i in range(3):
        put_record(env, f"b-{i}", "ACTIVE", bucket="bucket-b")
    return env


def _list_all(query: dict[str, str]) -> tuple[list[str], int]:
    ids, pages, token = [], 0, None
    while True:
        status, body, _ = call(
            http_event("GET", "/connections", query={**query, **({"next_token": token} if token else {})})
        )
        assert status == 200, body
        assert len(body["connections"]) <= int(query.get("limit", "25"))
        ids += [c["connection_id"] for c in body["connections"]]
        pages += 1
        token = body["next_token"]
        if token is None:
            return ids, pages


def test_list_returns_every_connection_by_default(listed):
    status, body, _ = call(http_event("GET", "/connections"))
    assert status == 200
    assert sorted(c["connection_id"] for c in body["connections"]) == [
        *(f"a-{i}" for i in range(5)),
        "b-0",
        "b-1",
        "b-2",
    ]
    assert body["next_token"] is None


def test_list_pages_through_with_next_token(listed):
    ids, pages = _list_all({"limit": "3"})
    assert sorted(ids) == sorted({*(f"a-{i}" for i in range(5)), "b-0", "b-1", "b-2"})
    assert len(ids) == len(set(ids)) == 8
    assert pages >= 3


def test_list_filters_by_bucket_and_status_across_pages(listed):
    assert sorted(_list_all({"bucket": "bucket-b", "limit": "2"})[0]) == ["b-0", "b-1", "b-2"]
    assert sorted(_list_all({"status": "FAILED", "limit": "1"})[0]) == ["a-1", "a-3"]
    assert sorted(_list_all({"bucket": "bucket-a", "status": "ACTIVE", "limit": "2"})[0]) == [
        "a-0",
        "a-2",
        "a-4",
    ]


def test_a_filtered_page_is_filled_up_to_the_limit(listed):
    status, body, _ = call(http_event("GET", "/connections", query={"status": "FAILED", "limit": "2"}))
    assert status == 200
    assert sorted(c["connection_id"] for c in body["connections"]) == ["a-1", "a-3"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "RUNNING"}, "status"),
        ({"status": "active"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"bucket": "Not A Bucket"}, "bucket"),
        ({"next_token": "garbage!"}, "next_token"),
        ({"next_token": base64.urlsafe_b64encode(b'{"connection_id": {"N": "1"}}').decode()}, "next_token"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_list_rejects_bad_query_parameters_with_a_400(listed, query, field):
    status, body, _ = call(http_event("GET", "/connections", query=query))
    assert status == 400
    assert field in {error["field"] for error in assert_errors(body)}


def test_list_rejects_a_token_from_another_filter(listed):
    _, body, _ = call(http_event("GET", "/connections", query={"bucket": "bucket-a", "limit": "1"}))
    token = body["next_token"]
    assert token
    status, body, _ = call(http_event("GET", "/connections", query={"next_token": token}))
    assert status == 400
    assert assert_errors(body)[0]["field"] == "next_token"


# --- DELETE /connections/{connection_id} ---------------------------------------------------------------


def test_delete_an_unknown_connection_is_a_404(env):
    status, body, _ = call(http_event("DELETE", "/connections/nope"))
    assert status == 404
    assert assert_errors(body)[0]["field"] == "connection_id"
    assert executions(env, "offboard") == []


def test_delete_while_provisioning_is_a_409(env):
    # A claim this young may belong to a request that is about to start its run.
    put_record(env, "sat-01", "PROVISIONING", updated_at=registry.now())
    status, body, _ = call(http_event("DELETE", "/connections/sat-01"))
    assert status == 409
    assert assert_errors(body)[0]["field"] == "connection_id"
    assert executions(env, "offboard") == []


def test_delete_of_a_claim_whose_run_never_started_offboards_it(env):
    """StartExecution failed and so did undoing the claim: the id must not stay blocked for good."""
    put_record(env, "sat-01", "PROVISIONING")
    status, body, _ = call(http_event("DELETE", "/connections/sat-01"))
    assert (status, body["status"]) == (202, "DEPROVISIONING")
    assert len(executions(env, "offboard")) == 1


def test_concurrent_deletes_start_one_offboarding(env):
    put_record(env, "sat-01", "ACTIVE")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: call(http_event("DELETE", "/connections/sat-01")), range(5)))
    assert [status for status, _, _ in answers] == [202] * 5
    [execution] = executions(env, "offboard")
    assert {body["execution_arn"] for _, body, _ in answers} == {execution["executionArn"]}


@pytest.mark.parametrize("removable", ["ACTIVE", "FAILED", "ROLLBACK_FAILED"])
def test_delete_starts_offboarding(env, removable):
    put_record(env, "sat-01", removable)
    status, body, headers = call(http_event("DELETE", "/connections/sat-01"))

    assert status == 202
    [execution] = executions(env, "offboard")
    assert body == {
        "connection_id": "sat-01",
        "status": "DEPROVISIONING",
        "execution_arn": execution["executionArn"],
        "url": "/connections/sat-01",
    }
    assert headers["Location"] == "/connections/sat-01"
    assert execution["name"].startswith("sat-01-offboard-")
    assert execution_input(env, execution["executionArn"]) == {"connection_id": "sat-01"}


def test_delete_while_deprovisioning_answers_with_the_running_offboarding(env):
    running = f"{env.offboard.replace(':stateMachine:', ':execution:')}:sat-01-offboard-1234abcd"
    put_record(env, "sat-01", "DEPROVISIONING", offboarding_execution_arn=running, updated_at=registry.now())
    status, body, _ = call(http_event("DELETE", "/connections/sat-01"))
    assert status == 202
    assert (body["status"], body["execution_arn"]) == ("DEPROVISIONING", running)
    assert executions(env, "offboard") == []


def test_delete_of_a_deleted_connection_is_a_harmless_202(env):
    put_record(
        env, "sat-01", "DELETED", offboarding_execution_arn="arn:aws:states:us-east-1:1:execution:Offboard:x"
    )
    status, body, _ = call(http_event("DELETE", "/connections/sat-01"))
    assert status == 202
    assert body["status"] == "DELETED"
    assert executions(env, "offboard") == []


# --- everything else -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nowhere"), ("PUT", "/connections"), ("POST", "/connections/x")]
)
def test_unknown_routes_are_a_json_404(env, method, path):
    status, body, _ = call(http_event(method, path))
    assert status == 404
    assert assert_errors(body)[0]["field"] == "path"


def test_openapi_json_is_served_from_the_package(env):
    status, body, headers = call(http_event("GET", "/openapi.json"))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == json.loads((ROOT / "docs" / "openapi.json").read_text())


def test_the_openapi_documents_are_what_the_generator_writes():
    expected = render(build_document())
    for path in OUTPUTS:
        assert path.read_text(encoding="utf-8") == expected, (
            f"{path} is stale: run scripts/generate_openapi.py"
        )


def test_the_openapi_routes_are_the_templates_http_api_routes():
    events = TEMPLATE["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    template_routes = {
        (e["Properties"]["Method"].lower(), e["Properties"]["Path"])
        for e in events
        # The $default route (no Path or Method) only answers what no documented route matches.
        if e["Type"] == "HttpApi" and "Path" in e["Properties"]
    }
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == template_routes


def test_the_sample_event_is_accepted(env):
    event = json.loads((ROOT / "events" / "api.json").read_text())
    status, body, _ = call(event)
    assert status == 202
    assert body["status"] == "PROVISIONING"


HEAVY_MODULES = (
    "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.event_handler.openapi.dependant",
    "aws_lambda_powertools.event_handler.openapi.models",
)


def test_importing_the_handler_leaves_openapi_and_validation_machinery_out():
    """The cold-start budget: Powertools' validation and OpenAPI models load only in the generator script."""
    code = f"import sys, app; print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    paths = [ROOT / "functions" / "api", ROOT / "layers" / "provisioner_core"]
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code],
        env={"PYTHONPATH": ":".join(map(str, paths)), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
