"""POST /connections/plan at the API function: the same 400 (413, 415) as POST /connections for the same
body, and the plan from Plan onboarding, which the API only invokes."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast

import app as api
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from provisioner_core import aws as aws_clients
from provisioner_core import plan_client
from tests.support.api_events import TEMPLATE, FakeContext, call, http_event
from tests.unit.conftest import SETTINGS

PLAN = {"planned": True, "would_succeed": True, "failed_checks": [], "checks": [], "created": []}


class FakeLambda:
    """Plan onboarding as the API sees it: one synchronous Invoke, through a client with these timeouts."""

    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload, self.function_error = payload, function_error
        self.calls: list[dict[str, Any]] = []
        self.timeouts: list[tuple[int, int]] = []
        self.raises: Exception | None = None

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.raises is not None:
            raise self.raises
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

    def bounded_client(service_name: str, *, connect_timeout: int, read_timeout: int) -> Any:
        assert service_name == "lambda"
        fake.timeouts.append((connect_timeout, read_timeout))
        return fake

    monkeypatch.setattr(aws_clients, "bounded_client", bounded_client)
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


# --- the API's own deadline: it answers before the HTTP API's 30 s, in its own format ------------------

PLAN_BODY = {"connection_name": "x", "bucket": "acme-a"}
TIMED_OUT = {
    "errors": [
        {
            "field": "request",
            "message": "the plan did not finish within 24 s; nothing was changed (a plan only reads): retry shortly",
        }
    ]
}


def plan_with_remaining(remaining_ms: int) -> tuple[int, Any]:
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: remaining_ms  # type: ignore[method-assign]
    event = http_event("POST", "/connections/plan", body=PLAN_BODY)
    response = api.lambda_handler(event, cast(LambdaContext, context))
    return response["statusCode"], json.loads(response["body"])


def test_the_plan_is_one_invoke_that_must_answer_within_the_apis_wait(lambda_client):
    assert call(http_event("POST", "/connections/plan", body=PLAN_BODY))[0] == 200
    # 30 s left: the wait is capped at 24 s, of which 2 to connect and 22 to read the answer.
    assert lambda_client.timeouts == [(2, 22)]
    assert len(lambda_client.calls) == 1


def test_with_less_time_left_the_wait_shrinks_to_fit(lambda_client):
    assert plan_with_remaining(12_500)[0] == 200
    assert lambda_client.timeouts == [(2, 8)]  # 12 s left, 2 kept back to answer


def test_with_too_little_time_left_no_plan_is_started_and_the_answer_is_a_504(lambda_client):
    status, answer = plan_with_remaining(4_900)
    assert status == 504
    assert answer["errors"][0]["field"] == "request"
    assert "did not finish within 2 s; nothing was changed" in answer["errors"][0]["message"]
    assert lambda_client.calls == []


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com/"),
        ConnectTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com/"),
    ],
)
def test_a_plan_that_does_not_answer_in_time_is_the_apis_own_504(lambda_client, error):
    lambda_client.raises = error
    status, answer, _ = call(http_event("POST", "/connections/plan", body=PLAN_BODY))
    assert (status, answer) == (504, TIMED_OUT)
    assert len(lambda_client.calls) == 1  # not retried: a retry would start a second plan


@pytest.mark.parametrize(
    "payload",
    [
        {"errorMessage": "2026-12-07T20:00:00.000Z 1234 Task timed out after 20.00 seconds"},
        {"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: 1234 Error: Task timed out"},
    ],
)
def test_a_plan_stopped_at_its_own_timeout_is_the_same_504(lambda_client, payload):
    lambda_client.payload, lambda_client.function_error = payload, "Unhandled"
    status, answer, _ = call(http_event("POST", "/connections/plan", body=PLAN_BODY))
    assert (status, answer) == (504, TIMED_OUT)


class _SlowLambda(BaseHTTPRequestHandler):
    """Lambda's Invoke endpoint, answering only after the read timeout has passed."""

    requests: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.requests.append(self.path)
        time.sleep(2.5)
        body = json.dumps(PLAN).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client has given up
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_slow_plan_gets_one_invoke_and_botocores_read_timeout_becomes_plan_timed_out(monkeypatch):
    """Against a real socket, with the API's own bounded client: the error botocore raises for a slow Invoke
    is the one the API catches, and the Invoke is not retried."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowLambda)
    server.block_on_close = False  # the slow handler may still be sleeping when the test ends
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
    }.items():
        monkeypatch.setenv(name, value)
    aws_clients.reset_clients()
    _SlowLambda.requests = []
    started = time.monotonic()
    try:
        # 5 s left: a wait of 3 s, 2 to connect and 1 to read the answer.
        with pytest.raises(plan_client.PlanTimedOut, match="did not finish within 3 s; nothing was changed"):
            plan_client.request_plan(
                api._plan_lambda_client, "PlanOnboarding", PLAN_BODY, SETTINGS, lambda: 5_000
            )
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
        aws_clients.reset_clients()
    assert len(_SlowLambda.requests) == 1
    assert elapsed < 2.0  # gave up at the 1 s read timeout, did not wait 2.5 s for the answer


def test_the_bounded_client_makes_one_attempt_within_its_timeouts(aws):
    aws_clients.reset_clients()
    client = aws_clients.bounded_client("lambda", connect_timeout=2, read_timeout=22)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 22)
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert aws_clients.bounded_client("lambda", connect_timeout=2, read_timeout=22) is client
    aws_clients.reset_clients()


def test_the_timeouts_fit_inside_the_http_apis_30_seconds():
    """Template and code agree: the plan ends before the API stops waiting, the API before the gateway."""
    plan_timeout = TEMPLATE["Resources"]["PlanOnboardingFunction"]["Properties"]["Timeout"]
    api_timeout = TEMPLATE["Resources"]["ApiFunction"]["Properties"]["Timeout"]
    cold_start = 3  # seconds; the plan function imports pydantic and boto3
    assert plan_timeout == plan_client.PLAN_FUNCTION_TIMEOUT_SECONDS
    assert plan_timeout + cold_start <= plan_client.PLAN_WAIT_SECONDS
    assert plan_client.plan_wait_seconds(api_timeout * 1000) == plan_client.PLAN_WAIT_SECONDS
    assert plan_client.PLAN_WAIT_SECONDS + plan_client.ANSWER_RESERVE_SECONDS + cold_start <= (
        plan_client.GATEWAY_TIMEOUT_SECONDS
    )
    assert api_timeout < plan_client.GATEWAY_TIMEOUT_SECONDS
