"""POST /connections/plan at the API function: the same 400 (413, 415) as POST /connections for the same
body, and the plan from Plan onboarding, which the API only invokes."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from provisioner_core import aws as aws_clients
from tests.unit.test_api import call, http_event

PLAN = {"planned": True, "would_succeed": True, "failed_checks": [], "checks": [], "created": []}


class FakeLambda:
    """Plan onboarding as the API sees it: one synchronous Invoke."""

    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload, self.function_error = payload, function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.function_error:
            answer["FunctionError"] = self.function_error
        return answer


@pytest.fixture
def lambda_client(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("ONBOARD_STATE_MACHINE_ARN", "IDEMPOTENCY_TABLE", "PLAN_ONBOARDING_FUNCTION"):
        monkeypatch.setenv(name, f"unused-{name.lower()}")
    aws_clients.reset_clients()
    fake = FakeLambda(PLAN)
    monkeypatch.setitem(aws_clients._clients, ("lambda", None), fake)
    yield fake
    aws_clients.reset_clients()


def both(raw_body: str, **kwargs: Any) -> tuple[tuple[int, Any], tuple[int, Any]]:
    post = call(http_event("POST", "/connections", raw_body=raw_body, **kwargs))
    plan = call(http_event("POST", "/connections/plan", raw_body=raw_body, **kwargs))
    return post[:2], plan[:2]


@pytest.mark.parametrize(
    "raw_body",
    [
        "[]",
        '"x"',
        "not json",
        "{}",
        '{"connection_name": "x"}',
        '{"connection_name": "x", "s3_uri": "acme-a/b/", "s3_uri": "acme-a/"}',
        '{"connection_name": "x!", "bucket": "Bad_Bucket", "access": "all", "role": 1}',
        '{"connection_name": "x", "s3_uri": "acme-a/../etc/"}',
        '{"connection_name": "x", "bucket": "acme-a", "dry_run": true}',
        '{"connection_name": "x", "bucket": "acme-a", "register_in_labellerr": true}',
    ],
)
def test_bad_input_gets_the_same_answer_as_post(lambda_client, raw_body):
    post, plan = both(raw_body)
    assert post[0] in (400,)
    assert plan == post
    assert lambda_client.calls == []


def test_not_json_and_too_large_get_the_same_answers_as_post(lambda_client):
    assert both("{}", headers={"content-type": "text/plain"})[1][0] == 415
    post, plan = both("{}", headers={"content-type": "text/plain"})
    assert plan == post
    big = json.dumps({"connection_name": "x", "description": "d" * 70_000})
    post, plan = both(big)
    assert plan == post
    assert plan[0] == 413


def test_a_valid_body_is_planned_by_the_plan_function(lambda_client):
    body = {"connection_name": "x", "bucket": "acme-a"}
    status, answer, _ = call(http_event("POST", "/connections/plan", body=body))
    assert (status, answer) == (200, PLAN)
    [invocation] = lambda_client.calls
    assert invocation["FunctionName"] == "unused-plan_onboarding_function"
    assert invocation["InvocationType"] == "RequestResponse"
    assert json.loads(invocation["Payload"]) == {"request": body, "execution_arn": ""}


def test_a_failed_plan_function_is_a_503_to_retry(lambda_client):
    lambda_client.payload, lambda_client.function_error = {"errorType": "AwsCallFailed"}, "Unhandled"
    status, answer, _ = call(
        http_event("POST", "/connections/plan", body={"connection_name": "x", "bucket": "acme-a"})
    )
    assert status == 503
    assert answer == {
        "errors": [
            {"field": "request", "message": "the plan could not be made (AwsCallFailed); retry shortly"}
        ]
    }


def test_a_refusal_of_the_plan_function_is_a_400(lambda_client):
    errors = [{"field": "bucket", "message": "some rule"}]
    lambda_client.payload = {"planned": False, "errors": errors}
    status, answer, _ = call(
        http_event("POST", "/connections/plan", body={"connection_name": "x", "bucket": "acme-a"})
    )
    assert (status, answer) == (400, {"errors": errors})
