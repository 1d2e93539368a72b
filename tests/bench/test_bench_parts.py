"""The benchmark's pure parts: statistics, cost arithmetic, budgets, history and request parsing.

No timing assertions. Run with `.venv/bin/pytest tests/bench`.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench import analysis, budgets, coldstart, cost, prices
from bench.floor import call_mismatch
from bench.history import summarize
from bench.recorder import Call, HandlerRun, identify
from bench.report import markdown_table, usd, usd_short
from bench.stats import median, percentile

ROOT = Path(__file__).resolve().parents[2]


# --- statistics


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(v) for v in range(1, 21)], 95) == pytest.approx(19.05)
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([7.0], 95) == 7.0


def test_median_ignores_order() -> None:
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_what_has_no_answer(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


# --- cost arithmetic


def test_billed_duration_rounds_up_to_the_millisecond() -> None:
    assert cost.billed_ms(0.0) == 1
    assert cost.billed_ms(0.2) == 1
    assert cost.billed_ms(1.0) == 1
    assert cost.billed_ms(1.01) == 2
    assert cost.billed_ms(149.3) == 150
    with pytest.raises(ValueError, match="negative"):
        cost.billed_ms(-1.0)


def test_gb_seconds_use_memory_and_billed_duration() -> None:
    assert cost.gb_seconds(256, 100.0) == pytest.approx(0.025)
    assert cost.gb_seconds(1024, 0.4) == pytest.approx(0.001)


def _usage(**overrides: Any) -> cost.OnboardingUsage:
    values: dict[str, Any] = {
        "state_transitions": 11.0,
        "functions": (
            cost.FunctionUsage("A", 1.0, 256, 99.2),
            cost.FunctionUsage("B", 2.0, 512, 10.0),
        ),
        "secrets_manager_calls": 2.0,
        "dynamodb_write_units": 5.0,
        "dynamodb_read_units": 2.0,
        "eventbridge_events": 1.0,
        "s3_put_list_requests": 2.0,
        "s3_get_other_requests": 4.0,
        "xray_traces": 1.0,
        "log_bytes": float(1024**3),
        "secrets_kept": 1.0,
    }
    values.update(overrides)
    return cost.OnboardingUsage(**values)


def test_one_time_cost_is_counts_times_prices() -> None:
    lines = {line.item: line for line in cost.one_time_lines(_usage())}
    assert lines["Step Functions state transitions"].usd == pytest.approx(11 * 0.025 / 1000)
    assert lines["Lambda requests"].quantity == 3
    assert lines["Lambda requests"].usd == pytest.approx(3 * 0.20 / 1_000_000)
    # A: 256 MB x 100 ms = 0.025 GB-s; B: 2 x 512 MB x 10 ms = 0.01 GB-s.
    assert lines["Lambda compute"].quantity == pytest.approx(0.035)
    assert lines["Lambda compute"].usd == pytest.approx(0.035 * 0.0000133334)
    assert lines["Secrets Manager API calls"].usd == pytest.approx(2 * 0.05 / 10_000)
    assert lines["DynamoDB writes"].usd == pytest.approx(5 * 0.625 / 1_000_000)
    assert lines["DynamoDB reads"].usd == pytest.approx(2 * 0.125 / 1_000_000)
    assert lines["EventBridge custom events"].usd == pytest.approx(1.00 / 1_000_000)
    assert lines["S3 PUT/LIST requests"].usd == pytest.approx(2 * 0.005 / 1000)
    assert lines["S3 GET/other requests"].usd == pytest.approx(4 * 0.0004 / 1000)
    assert lines["X-Ray traces"].usd == pytest.approx(5.00 / 1_000_000)
    assert lines["CloudWatch Logs ingestion"].quantity == pytest.approx(1.0)
    assert cost.total_usd(list(lines.values())) == pytest.approx(sum(line.usd for line in lines.values()))


def test_monthly_cost_is_the_secret() -> None:
    assert cost.total_usd(cost.monthly_lines(_usage())) == pytest.approx(0.40)
    assert cost.total_usd(cost.monthly_lines(_usage(secrets_kept=0.0))) == 0


def test_every_price_names_its_source_and_date() -> None:
    for name, price in prices.ALL.items():
        assert price.usd > 0, name
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.as_of == prices.QUOTED_ON, name
    assert prices.STEP_FUNCTIONS_STANDARD_TRANSITION.usd == pytest.approx(0.000025)
    assert prices.LAMBDA_ARM64_GB_SECOND.usd == 0.0000133334


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("PutBucketCors", "put_list"),
        ("ListObjectsV2", "put_list"),
        ("CreateBucket", "put_list"),
        ("GetObject", "get_other"),
        ("GetBucketCors", "get_other"),
        ("HeadBucket", "get_other"),
        ("DeleteObject", "free"),
        ("DeleteBucketCors", "free"),
    ],
)
def test_s3_request_classes(operation: str, expected: str) -> None:
    assert cost.s3_request_class(operation) == expected


def test_dynamodb_item_size() -> None:
    assert cost.dynamodb_item_bytes({"id": {"S": "abc"}}) == 5
    assert cost.dynamodb_item_bytes({"n": {"N": "12345"}}) == 1 + 4
    assert cost.dynamodb_item_bytes({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    # A map: 3 bytes, plus each entry's name, value and 1 byte.
    assert cost.dynamodb_item_bytes({"m": {"M": {"k": {"S": "vv"}}}}) == 1 + 3 + (1 + 2 + 1)
    assert cost.dynamodb_item_bytes({"l": {"L": [{"S": "a"}, {"S": "b"}]}}) == 1 + 3 + 2 + 2


def test_dynamodb_request_units() -> None:
    assert cost.write_units(10) == 1
    assert cost.write_units(1024) == 1
    assert cost.write_units(1025) == 2
    assert cost.read_units(4096, consistent=True) == 1
    assert cost.read_units(4097, consistent=True) == 2
    assert cost.read_units(100, consistent=False) == 0.5
    big = {"id": {"S": "x" * 1500}}
    assert cost.dynamodb_units("PutItem", {"Item": big}, {}) == (2.0, 0.0)
    assert cost.dynamodb_units("UpdateItem", {}, {"Attributes": big}) == (2.0, 0.0)
    assert cost.dynamodb_units("DeleteItem", {}, {}) == (1.0, 0.0)
    assert cost.dynamodb_units("GetItem", {"ConsistentRead": True}, {"Item": big}) == (0.0, 1.0)
    assert cost.dynamodb_units("Query", {}, {"Items": [big, big]}) == (0.0, 0.5)
    assert cost.dynamodb_units("DescribeTable", {}, {}) == (0.0, 0.0)


# --- budgets


def test_budgets_pass_at_the_limit_and_miss_above_it() -> None:
    results = budgets.evaluate(
        calls_by_service={"iam": 4, "s3": 6, "secretsmanager": 2, "dynamodb": 4, "events": 1},
        flow_over_floor=2.0,
        cold_start_ratios={"CreateUserFunction": 1.5, "ValidateRequestFunction": 1.9, "ApiFunction": 2.01},
    )
    verdicts = {result.name: result.passed for result in results}
    assert verdicts == {
        "IAM + S3 + Secrets Manager calls per onboarding (import)": True,
        "flow / floor (median / median)": True,
        "cold start CreateUserFunction / baseline": True,
        "cold start ValidateRequestFunction / baseline": True,
        "cold start ApiFunction / baseline": False,
    }
    assert results[0].measured == 12
    assert "dynamodb 4, events 1" in results[0].detail
    assert [result.name for result in budgets.missed(results)] == ["cold start ApiFunction / baseline"]


def test_a_figure_that_was_not_measured_misses_its_budget() -> None:
    results = budgets.evaluate(
        calls_by_service=None, flow_over_floor=None, cold_start_ratios={"CreateUserFunction": None}
    )
    assert budgets.missed(results) == results
    assert "not measured" in budgets.describe(results[0])


def test_one_call_over_the_calls_budget_misses_it() -> None:
    # 12 for the onboarding's work, plus Validate request's read-only look at the bucket and Apply CORS's
    # read of its own write.
    assert budgets.CALLS_BUDGET == 12 + budgets.INSPECTION_READS + budgets.CORS_READ_BACK
    [calls, *_] = budgets.evaluate(
        calls_by_service={
            "iam": 5,
            "s3": 6 + budgets.INSPECTION_READS + budgets.CORS_READ_BACK,
            "secretsmanager": 2,
        },
        flow_over_floor=1.0,
        cold_start_ratios={},
    )
    assert not calls.passed
    assert budgets.describe(calls).startswith("MISSED: IAM + S3 + Secrets Manager")


def test_a_floor_that_drifts_from_the_flow_is_not_measured() -> None:
    results = budgets.evaluate(
        calls_by_service={}, flow_over_floor=None, cold_start_ratios={}, flow_over_floor_detail="drifted"
    )
    [ratio] = [result for result in results if result.name.startswith("flow / floor")]
    assert not ratio.passed
    assert budgets.describe(ratio).endswith("not measured (budget at most 2 x); drifted")


def test_floor_calls_are_compared_with_the_flows_as_multisets() -> None:
    flow = {"s3:GetBucketCors": 2.0, "iam:CreateUser": 1.0, "events:PutEvents": 1.0}
    assert call_mismatch(flow, {"iam:CreateUser": 1, "events:PutEvents": 1, "s3:GetBucketCors": 2}) == []
    assert call_mismatch(flow, {"iam:CreateUser": 1, "s3:GetBucketCors": 1, "dynamodb:PutItem": 1}) == [
        "dynamodb:PutItem: the flow makes 0, the floor 1",
        "events:PutEvents: the flow makes 1, the floor 0",
        "s3:GetBucketCors: the flow makes 2, the floor 1",
    ]


def test_cold_start_limits() -> None:
    assert budgets.cold_start_limit("ValidateRequestFunction") == 2.0
    assert budgets.cold_start_limit("ApiFunction") == 2.0
    assert budgets.cold_start_limit("CreateUserFunction") == 1.5
    assert budgets.summary(
        budgets.evaluate(calls_by_service={}, flow_over_floor=3.0, cold_start_ratios={})
    ) == ("1 of 2 budgets met")


# --- execution history


def _event(event_id: int, kind: str, at: datetime, **details: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "timestamp": at, **details}


def test_history_counts_invocations_transitions_and_state_times() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(ms: int) -> datetime:
        return t0 + timedelta(milliseconds=ms)

    events = [
        _event(1, "ExecutionStarted", at(10)),
        _event(2, "TaskStateEntered", at(10), stateEnteredEventDetails={"name": "Create user"}),
        _event(3, "LambdaFunctionScheduled", at(12)),
        _event(4, "LambdaFunctionStarted", at(12)),
        _event(5, "LambdaFunctionSucceeded", at(30)),
        _event(6, "TaskStateExited", at(31), stateExitedEventDetails={"name": "Create user"}),
        _event(7, "ChoiceStateEntered", at(31), stateEnteredEventDetails={"name": "CORS?"}),
        _event(8, "ChoiceStateExited", at(32), stateExitedEventDetails={"name": "CORS?"}),
        _event(9, "SucceedStateEntered", at(32), stateEnteredEventDetails={"name": "Done"}),
        _event(10, "ExecutionSucceeded", at(33)),
    ]
    summary = summarize(list(reversed(events)), t0, at(35))
    assert summary.lambda_invocations == 1
    assert summary.state_transitions == 3
    assert summary.states_entered == ("Create user", "CORS?", "Done")
    [create, choice] = summary.timings
    assert (create.state, create.entered_ms, create.duration_ms, create.lambda_ms) == (
        "Create user",
        10,
        21,
        18,
    )
    assert (choice.state, choice.duration_ms, choice.lambda_ms) == ("CORS?", 1, None)
    assert summary.before_first_state_ms == 10
    assert summary.after_last_event_ms == 2


# --- whose call is it


def _call(key: str, service: str, operation: str, started: float = 0.0) -> Call:
    return Call("p", key, service, operation, 200, started, 1.0, "t")


def test_calls_are_attributed_to_their_maker() -> None:
    own = frozenset({"bench-admin"})

    def origin_of(call: Call) -> str:
        return analysis.origin(call, own_keys=own, function_key="testing")

    assert origin_of(_call("bench-admin", "iam", "ListUsers")) == "benchmark"
    assert origin_of(_call("ak", "lambda", "Invoke")) == "orchestration"
    assert origin_of(_call("testing", "stepfunctions", "StartExecution")) == "orchestration"
    assert origin_of(_call("testing", "iam", "CreateUser")) == "functions"
    assert origin_of(_call("AKIAEXAMPLE123456789", "s3", "ListObjectsV2")) == "issued key"
    calls = [
        _call("testing", "iam", "CreateUser"),
        _call("ak", "lambda", "Invoke"),
        _call("bench-admin", "s3", "X"),
    ]
    assert [c.operation for c in analysis.flow_calls(calls, own_keys=own, function_key="testing")] == [
        "CreateUser"
    ]
    assert analysis.by_operation(calls)["iam:CreateUser"] == 1


def test_a_call_belongs_to_the_handler_running_when_it_arrived() -> None:
    runs = [HandlerRun("p", "A", 1.0, 500.0, True), HandlerRun("p", "B", 2.0, 500.0, True)]
    assert analysis.function_of(_call("testing", "iam", "X", 1.2), runs) == "A"
    assert analysis.function_of(_call("testing", "iam", "X", 2.4), runs) == "B"
    assert analysis.function_of(_call("testing", "iam", "X", 9.0), runs) == "(none)"


def test_a_task_invocation_belongs_to_the_handler_that_started_inside_it() -> None:
    runs = [HandlerRun("p", "A", 1.001, 5.0, True), HandlerRun("p", "B", 2.001, 5.0, True)]
    assert analysis.function_in_span(1.0, 10.0, runs) == "A"
    assert analysis.function_in_span(2.0, 10.0, runs) == "B"
    assert analysis.function_in_span(3.0, 10.0, runs) == "(none)"


def test_state_functions_from_a_definition() -> None:
    definition = json.dumps(
        {
            "States": {
                "Create user": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:1:function:CreateUserFunction",
                },
                "Invoke": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:1:function:Other:live"},
                },
                "Done": {"Type": "Succeed"},
            }
        }
    )
    assert analysis.state_functions(definition) == {"Create user": "CreateUserFunction", "Invoke": "Other"}
    assert analysis.unanimous([{"a": 1}, {"a": 1}])
    assert not analysis.unanimous([{"a": 1}, {"a": 2}])


def _environ(**values: Any) -> dict[str, Any]:
    body: bytes = values.pop("body", b"")
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
    }
    environ.update(values)
    return environ


def _authorization(key: str, service: str) -> str:
    return f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/{service}/aws4_request, Signature=x"


def test_requests_are_identified_by_key_service_and_operation() -> None:
    query = _environ(
        HTTP_AUTHORIZATION=_authorization("testing", "iam"),
        CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
        body=b"Action=CreateUser&UserName=u&Version=2010-05-08",
    )
    assert identify(query) == ("testing", "iam", "CreateUser", 1)
    # The body is still there for moto to read.
    assert query["wsgi.input"].read() == b"Action=CreateUser&UserName=u&Version=2010-05-08"
    events = _environ(
        HTTP_AUTHORIZATION=_authorization("testing", "events"),
        HTTP_X_AMZ_TARGET="AWSEvents.PutEvents",
        body=json.dumps({"Entries": [{}, {}]}).encode(),
    )
    assert identify(events) == ("testing", "events", "PutEvents", 2)
    states = _environ(
        HTTP_AUTHORIZATION=_authorization("ak", "states"), HTTP_X_AMZ_TARGET="AWSStepFunctions.StartExecution"
    )
    assert identify(states) == ("ak", "stepfunctions", "StartExecution", 1)
    ranged_get = _environ(
        REQUEST_METHOD="GET",
        PATH_INFO="/bucket/images/cat.png",
        HTTP_RANGE="bytes=0-0",
        HTTP_AUTHORIZATION=_authorization("AKIAEXAMPLE123456789", "s3"),
    )
    assert identify(ranged_get) == ("AKIAEXAMPLE123456789", "s3", "GetObject", 1)
    cors = _environ(
        REQUEST_METHOD="GET",
        PATH_INFO="/bucket",
        QUERY_STRING="cors",
        HTTP_AUTHORIZATION=_authorization("testing", "s3"),
    )
    assert identify(cors)[2] == "GetBucketCors"
    assert identify(_environ())[0] == "(unsigned)"


# --- cold start helpers


def test_first_client_is_the_first_one_the_function_runs() -> None:
    source = """
from provisioner_core import aws

def helper():
    return aws.client("events")

def lambda_handler(event, context):
    return run(aws.client("dynamodb"), aws.client("iam"))
"""
    assert coldstart.first_client_service(source) == "dynamodb"
    assert (
        coldstart.first_client_service("from provisioner_core import aws\nS3 = aws.client('s3')\n" + source)
        == "s3"
    )
    assert (
        coldstart.first_client_service(
            "def lambda_handler(e, c):\n    return app(e)\n\ndef f():\n    aws.client('sts')\n"
        )
        == "sts"
    )
    assert coldstart.first_client_service("import boto3\nboto3.client('s3')\n") is None


def test_every_template_function_has_a_first_client() -> None:
    """Stays in sync with template.yaml and the handlers: a new function without aws.client fails here."""
    found = coldstart.targets(ROOT / "template.yaml")
    assert found
    assert {target.logical_id: target.service for target in found if target.service is None} == {}
    by_id = {target.logical_id: target.service for target in found}
    assert by_id.get("CreateUserFunction") == "iam"
    assert by_id.get("ValidateRequestFunction") == "s3"


def test_importtime_output_is_read_per_direct_import() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 | json",
            "import time:       500 |       2000 |   boto3.session",
            "import time:       300 |       3000 | boto3",
            "import time:       400 |      50000 |   provisioner_core.aws",
            "import time:       200 |       9000 |     pydantic",
            "import time:       100 |      20000 |   provisioner_core.request",
            "import time:       900 |      71000 | app",
            "import time:       700 |       1500 | botocore.handlers",
        ]
    )
    profile = coldstart.parse_importtime(stderr, "app")
    assert profile.module_ms == 71
    assert profile.direct_imports_ms == (("provisioner_core.aws", 50.0), ("provisioner_core.request", 20.0))
    assert profile.during_client_ms == 1.5
    assert coldstart.parse_importtime(stderr, "missing").module_ms == 0


# --- output


def test_markdown_and_money_formatting() -> None:
    assert markdown_table(["a", "b"], [[1, "x"]]) == "| a | b |\n|---|---|\n| 1 | x |"
    assert usd(0.40) == "$0.40"
    assert usd(0.000275) == "$0.000275"
    assert usd(0) == "$0"
    assert usd_short(0.00031014) == "$0.00031"
    assert usd_short(0.000001) == "$0.0000010"
    assert usd_short(0.4) == "$0.40"
    assert usd_short(12.345) == "$12.35"
