"""The interpreter's speed-ups change nothing an execution does: outputs, errors, retries, catches, history.

Each comparison runs the same definition and input twice: Lambda tasks dispatched in-process and through
moto's HTTP Invoke handler (PROVISIONER_LOCAL_LAMBDA_OVER_HTTP=1), or a first execution (the program just
parsed) and later ones (the program cached).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from provisioner_local.aws_patches import LAMBDA_OVER_HTTP_VARIABLE
from provisioner_local.emulator import LocalStack
from provisioner_local.interpreter import ProgramCache, assign_heap_keys, fresh_result
from tests.support.executions import wait_for_execution

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
ROLE = "arn:aws:iam::123456789012:role/test"
_VARYING = re.compile(r'(remaining_ms\\*"\s*:\s*)\d+')
_REQUEST_ID = re.compile(r"Request ID: [^;]+")


@pytest.fixture(scope="module")
def stack():
    with LocalStack(template_path=FIXTURE_TEMPLATE) as running:
        yield running


@pytest.fixture(scope="module")
def sfn(stack):
    return boto3.client(
        "stepfunctions",
        endpoint_url=stack.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _machine(sfn, definition: dict[str, Any]) -> str:
    name = f"interp-{uuid.uuid4().hex[:12]}"
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def _run(sfn, machine_arn: str, payload: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    arn = sfn.start_execution(
        stateMachineArn=machine_arn, name=f"run-{uuid.uuid4().hex[:12]}", input=json.dumps(payload)
    )["executionArn"]
    description = wait_for_execution(sfn, arn, deadline_s=15, poll_s=0.01)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return description, events


def _normalized(description: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What must not change: status, output, error, cause, and every event but its timestamp."""
    kept = [{key: value for key, value in event.items() if key != "timestamp"} for event in events]
    summary = {key: description.get(key) for key in ("status", "output", "error", "cause")}
    text = json.dumps({"summary": summary, "events": kept}, sort_keys=True, default=str)
    # The handlers report the time left; the ARNs name each execution.
    text = _VARYING.sub(r"\g<1>0", text)
    # Every request has its own id, over HTTP or not; Lambda integration errors quote it.
    text = _REQUEST_ID.sub("Request ID: (id)", text)
    text = text.replace(description["executionArn"], "EXECUTION")
    return json.loads(text)


def _fixture_machine(stack) -> str:
    return stack.state_machine_arn


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"mode": "ok"}, id="succeeds"),
        pytest.param({"mode": "quota", "who": "acme"}, id="caught"),
        pytest.param({"mode": "flaky"}, id="retried-then-failed"),
    ],
)
def test_in_process_dispatch_matches_moto_http_invoke(stack, sfn, monkeypatch, payload) -> None:
    machine_arn = _fixture_machine(stack)
    direct = _normalized(*_run(sfn, machine_arn, payload))
    monkeypatch.setenv(LAMBDA_OVER_HTTP_VARIABLE, "1")
    over_http = _normalized(*_run(sfn, machine_arn, payload))

    assert direct == over_http
    assert direct["summary"]["status"] in {"SUCCEEDED", "FAILED"}


def test_an_unknown_function_fails_the_task_as_over_http(stack, sfn, monkeypatch) -> None:
    missing = "arn:aws:lambda:us-east-1:123456789012:function:NoSuchFunction"
    definition = {
        "StartAt": "Plain",
        "States": {
            "Plain": {
                "Type": "Task",
                "Resource": missing,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.plain", "Next": "Integration"}],
                "Next": "Integration",
            },
            "Integration": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": missing, "Payload.$": "$"},
                "End": True,
            },
        },
    }
    machine_arn = _machine(sfn, definition)
    direct = _normalized(*_run(sfn, machine_arn, {}))
    monkeypatch.setenv(LAMBDA_OVER_HTTP_VARIABLE, "1")
    over_http = _normalized(*_run(sfn, machine_arn, {}))

    assert direct == over_http
    # A plain ARN task names the error "Exception"; the lambda:invoke integration, Lambda.<code>.
    [plain] = [e for e in direct["events"] if e["type"] == "LambdaFunctionFailed"]
    assert plain["lambdaFunctionFailedEventDetails"]["error"] == "Exception"
    assert direct["summary"]["status"] == "FAILED"
    assert direct["summary"]["error"] == "Lambda.ResourceNotFoundException"
    assert "Function not found" in direct["summary"]["cause"]


def test_invocation_options_are_handled_as_over_http(stack, sfn, monkeypatch) -> None:
    definition = {
        "StartAt": "Fire and forget",
        "States": {
            "Fire and forget": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": stack.functions["EchoFunction"].spec.arn,
                    "InvocationType": "Event",
                    "Payload": {"a": 1},
                },
                "ResultSelector": {"status.$": "$.StatusCode", "payload.$": "$.Payload"},
                "End": True,
            }
        },
    }
    machine_arn = _machine(sfn, definition)
    direct = _normalized(*_run(sfn, machine_arn, {}))
    monkeypatch.setenv(LAMBDA_OVER_HTTP_VARIABLE, "1")
    over_http = _normalized(*_run(sfn, machine_arn, {}))

    assert direct == over_http
    assert direct["summary"]["status"] == "SUCCEEDED"


def test_a_definition_is_parsed_once_and_its_executions_stay_apart(stack, sfn, monkeypatch) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parsed: list[str] = []
    original = AmazonStateLanguageParser.parse

    def counting(definition: str) -> Any:
        parsed.append(definition)
        return original(definition)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counting))
    definition = {
        "Comment": f"unique {uuid.uuid4()}",
        "StartAt": "Literal",
        "States": {
            "Literal": {
                "Type": "Pass",
                "Result": {"kept": {"n": 1}},
                "ResultPath": "$.literal",
                "Next": "Echo",
            },
            "Echo": {
                "Type": "Task",
                "Resource": stack.functions["EchoFunction"].spec.arn,
                "ResultPath": "$.echo",
                "Next": "Change it",
            },
            "Change it": {"Type": "Pass", "Result": 2, "ResultPath": "$.literal.kept.n", "End": True},
        },
    }
    machine_arn = _machine(sfn, definition)
    parsed.clear()  # CreateStateMachine validates the definition with a parse of its own
    first = _normalized(*_run(sfn, machine_arn, {"run": 1}))
    later = [_normalized(*_run(sfn, machine_arn, {"run": 1})) for _ in range(3)]

    assert len(parsed) <= 1
    assert all(run == first for run in later)
    assert json.loads(first["summary"]["output"])["literal"] == {"kept": {"n": 2}}


def test_concurrent_executions_of_one_program_keep_their_own_retry_counts(stack, sfn) -> None:
    machine_arn = _fixture_machine(stack)
    before = stack.invocations.count("FailFunction")
    names = [f"flaky-{uuid.uuid4().hex[:12]}" for _ in range(8)]
    barrier = threading.Barrier(len(names))

    def start(name: str) -> str:
        barrier.wait()
        return sfn.start_execution(stateMachineArn=machine_arn, name=name, input='{"mode": "flaky"}')[
            "executionArn"
        ]

    arns: list[str] = [""] * len(names)
    threads = [
        threading.Thread(target=lambda i=i, n=n: arns.__setitem__(i, start(n))) for i, n in enumerate(names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    descriptions = [wait_for_execution(sfn, arn, deadline_s=30) for arn in arns]

    assert {d["status"] for d in descriptions} == {"FAILED"}
    assert {d["error"] for d in descriptions} == {"FlakyError"}
    # MaxAttempts 2: three invocations each, however the executions interleave.
    assert stack.invocations.count("FailFunction") - before == 3 * len(names)


# --- the pieces


def test_program_cache_parses_each_text_once_and_forgets_the_oldest() -> None:
    calls: list[str] = []

    def parse(text: str) -> Any:
        calls.append(text)
        return SimpleNamespace(text=text)

    cache = ProgramCache(parse, max_programs=2)
    a = cache.get("a")

    assert cache.get("a") is a
    cache.get("b")
    cache.get("c")
    assert len(cache) == 2
    assert cache.get("a") is not a
    assert calls == ["a", "b", "c", "a"]


def test_program_cache_keeps_nothing_when_the_parse_fails() -> None:
    def parse(text: str) -> Any:
        raise ValueError(text)

    cache = ProgramCache(parse)
    for _ in range(2):
        with pytest.raises(ValueError, match="bad"):
            cache.get("bad")
    assert len(cache) == 0


def test_every_component_gets_its_heap_key_before_sharing(stack) -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    [machine] = stack.template.state_machines()
    program, _ = AmazonStateLanguageParser.parse(machine.render_definition())

    count = assign_heap_keys(program)
    keys: dict[int, tuple[str, str | None]] = {}
    seen: set[int] = set()
    pending: list[Any] = [program]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
        elif type(value).__module__.startswith("moto.stepfunctions.parser.") and hasattr(value, "__dict__"):
            if isinstance(value, EvalComponent):
                keys[id(value)] = (type(value).__name__, vars(value).get("_EvalComponent__heap_key"))
            pending.extend(vars(value).values())

    assert count == len(keys) > 20
    assert all(key for _, key in keys.values())
    # The components whose state lives in the heap under their key: the Retry's counters.
    assert {"MaxAttemptsDecl", "BackoffRateDecl"} <= {name for name, _ in keys.values()}


def test_a_pass_result_is_a_new_object_each_time() -> None:
    literal = {"kept": {"n": 1}}
    env = SimpleNamespace(stack=[])

    fresh_result(SimpleNamespace(result_obj=literal), env)
    fresh_result(SimpleNamespace(result_obj=literal), env)

    first, second = env.stack
    assert first == second == literal
    assert first is not literal
    assert second is not first
    assert first["kept"] is not literal["kept"]


def test_jsonpath_texts_are_parsed_once(stack) -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    path = f"$.field_{time.time_ns()}"
    assert json_path.parse(path) is json_path.parse(path)
    assert json_path.extract_json(path, {path[2:]: 7}) == 7
