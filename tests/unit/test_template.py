"""The template, the ASL, the folders, the events and the tests agree on one naming stem per step."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from provisioner_core.connection import Connection
from provisioner_core.connection_id_request import connection_id_of
from provisioner_core.dry_run import without_dry_run
from provisioner_core.errors import InvalidRequest
from provisioner_core.request import parse_request
from provisioner_local.template import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
STATE_MACHINES = {
    logical_id: resource["Properties"]
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Serverless::StateMachine"
}
ASL_TEXTS = {name: (ROOT / sm["DefinitionUri"]).read_text() for name, sm in STATE_MACHINES.items()}
ASLS = {name: json.loads(text) for name, text in ASL_TEXTS.items()}
ASL = ASLS["OnboardConnectionStateMachine"]
# Functions behind the HTTP API or a schedule rather than a state.
API_FUNCTIONS = {"api", "start_due_rotations"}
FUNCTIONS = {
    logical_id: resource["Properties"]
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Serverless::Function"
}
FUNCTION_DIRS = sorted(
    p.name for p in (ROOT / "functions").iterdir() if p.is_dir() and p.name != "__pycache__"
)


def _letters(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _all_states(states: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A machine's states, a Map's inner states among them."""
    found = dict(states)
    for state in states.values():
        if state["Type"] == "Map":
            found.update(_all_states(state["ItemProcessor"]["States"]))
    return found


def _task_states(asl: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Task states that run one of our functions, of one state machine or of all of them (a service
    integration such as states:startExecution is no step of ours)."""
    machines = [asl] if asl is not None else list(ASLS.values())
    return {
        n: st
        for m in machines
        for n, st in _all_states(m["States"]).items()
        if st["Type"] == "Task" and st["Resource"].startswith("${")
    }


def _stem(state_name: str) -> str:
    """A state's stem: several states may call one function ("Record outcome: failed")."""
    return _letters(state_name.split(":")[0])


def test_globals_pin_runtime_architecture_and_tracing():
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Environment"]["Variables"]["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


@pytest.mark.parametrize("machine", sorted(STATE_MACHINES))
def test_every_substitution_is_used_and_points_at_a_function(machine):
    substitutions = STATE_MACHINES[machine]["DefinitionSubstitutions"]
    placeholders = set(re.findall(r"\$\{([^}]+)\}", ASL_TEXTS[machine]))
    assert placeholders == set(substitutions)
    for name, value in substitutions.items():
        target, attribute = value["Fn::GetAtt"]
        assert target in FUNCTIONS, name
        assert attribute == "Arn"
        assert name == f"{target}Arn"


def test_one_stem_per_step_across_folder_logical_id_state_and_test():
    tasks = _task_states()
    step_dirs = {_letters(d) for d in FUNCTION_DIRS if d not in API_FUNCTIONS}
    assert {_stem(name) for name in tasks} == step_dirs
    for state_name, state in tasks.items():
        logical_id = state["Resource"].strip("${}").removesuffix("Arn")
        folder = FUNCTIONS[logical_id]["CodeUri"].strip("/").split("/")[-1]
        assert _stem(state_name) == _letters(folder) == _letters(logical_id.removesuffix("Function"))
        assert FUNCTIONS[logical_id]["Handler"] == "app.lambda_handler"
        assert (ROOT / "functions" / folder / "app.py").is_file()
        assert (ROOT / "tests" / "unit" / f"test_{folder}.py").is_file(), f"no unit test for {folder}"
        assert (ROOT / "events" / f"{folder}.json").is_file(), f"no sample event for {folder}"


@pytest.mark.parametrize("machine", sorted(ASLS))
def test_every_catch_records_the_failing_state_by_its_own_name(machine):
    """The failing state is a fact the state machine records, read from the context object, so a renamed
    state renames the error and no function keeps a copy of the flow's states."""
    # A Map's inner states may not assign a variable of the outer scope (AWS's rule): their Catch records
    # the error by ResultPath, and the item's state holds which step it was.
    states = ASLS[machine]["States"]
    start = states[ASLS[machine]["StartAt"]]
    # Assigned before anything can fail, so every state that reads it finds it.
    assert start["Assign"]["failed_state"] is None
    catches = [catch for state in states.values() for catch in state.get("Catch", [])]
    assert catches
    for catch in catches:
        assert catch["Assign"]["failed_state.$"] == "$$.State.Name", catch
    for name, state in states.items():
        if state.get("Resource") in (
            "${RollbackFunctionArn}",
            "${RecordOutcomeFunctionArn}",
            "${UndoRotationFunctionArn}",
            "${RecordRotationOutcomeFunctionArn}",
        ):
            assert state["Parameters"]["failed_state.$"] == "$failed_state", name


def test_every_forward_step_of_the_onboarding_is_caught_into_the_rollback():
    order, name = [], ASL["StartAt"]
    while name in ASL["States"]:
        state = ASL["States"][name]
        if state["Type"] == "Task":
            order.append(name)
        if state["Type"] == "Choice":
            first = state["Choices"][0]["Next"]
            leaves = ASL["States"][first]["Type"] == "Fail" or first == "Plan onboarding"
            name = state["Default"] if leaves else first
        else:
            name = state.get("Next")
    assert {"Register in Labellerr", "Record outcome"} <= set(order)
    for step in order:
        catch = ASL["States"][step]["Catch"][-1]
        assert (catch["ErrorEquals"], catch["ResultPath"], catch["Next"]) == (
            ["States.ALL"],
            "$.failure",
            "Rollback",
        ), step
    # Rollback asks Labellerr only for a run the hand-off state was entered for, succeeded or not.
    handing_over = ASL["States"]["Register in Labellerr"]
    assert handing_over["Assign"] == {"handed_to_labellerr": True}
    assert handing_over["Catch"][-1]["Assign"]["handed_to_labellerr"] is True
    assert ASL["States"][ASL["StartAt"]]["Assign"]["handed_to_labellerr"] is False
    assert ASL["States"]["Skip CORS"]["ResultPath"] == "$.cors"


def test_every_task_retries_lambda_errors_and_catches_everything():
    for name, state in _task_states().items():
        retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried, name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
    # The flows that create or remove a connection end RollbackFailed when their cleanup cannot finish; a
    # rotation never removes the connection, and ends INTERRUPTED with what is left listed instead.
    for machine in ("OnboardConnectionStateMachine", "OffboardConnectionStateMachine"):
        assert ASLS[machine]["States"]["Rollback failed"]["Error"] == "RollbackFailed"
    assert ASLS["RotateConnectionKeyStateMachine"]["States"]["Rotation interrupted"]["Error"] == (
        "RotationInterrupted"
    )


@pytest.mark.parametrize("machine", sorted(ASLS))
def test_a_timed_out_lambda_is_retried_wherever_lambda_service_errors_are(machine):
    """A Lambda timeout can reach Step Functions as Sandbox.Timedout: a retrier that names Lambda's service
    errors but not it would roll a run back for a step that only ran out of time once."""
    retriers = [
        (name, retry)
        for name, state in ASLS[machine]["States"].items()
        for retry in state.get("Retry", [])
        if "Lambda.ServiceException" in retry["ErrorEquals"]
    ]
    assert retriers
    for name, retry in retriers:
        assert "Sandbox.Timedout" in retry["ErrorEquals"], name


@pytest.mark.parametrize("machine", sorted(ASLS))
def test_a_throttled_call_is_retried_longer_and_with_jitter_wherever_aws_failures_are(machine):
    """Many runs at once meet IAM's throttling past the SDK's retries: a state that retries AwsCallFailed
    retries AwsThrottled (a subclass, so it must come first) with more attempts, capped and jittered."""
    states = [(n, s) for n, s in ASLS[machine]["States"].items() if s.get("Retry")]
    for name, state in states:
        errors = [retry["ErrorEquals"] for retry in state["Retry"]]
        if not any("AwsCallFailed" in e for e in errors):
            continue
        throttled = next(i for i, e in enumerate(errors) if e == ["AwsThrottled"])
        assert throttled < next(i for i, e in enumerate(errors) if "AwsCallFailed" in e), name
        retry = state["Retry"][throttled]
        assert retry["MaxAttempts"] > 3, name
        assert retry["JitterStrategy"] == "FULL", name
        assert retry["MaxDelaySeconds"], name


def test_throttling_refusals_and_the_rest_are_three_errors_decided_in_one_place():
    from botocore.exceptions import ClientError

    from provisioner_core.errors import AwsCallFailed, AwsCallRefused, AwsThrottled
    from provisioner_core.step import aws_failure

    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "CreateUser")

    assert type(aws_failure(error("Throttling"))) is AwsThrottled
    assert type(aws_failure(error("ThrottlingException"))) is AwsThrottled
    for refused in ("AccessDenied", "AccessDeniedException", "MalformedPolicyDocument", "LimitExceeded"):
        assert type(aws_failure(error(refused))) is AwsCallRefused, refused
    # What may fade stays retryable: IAM's eventual consistency, a fault nobody named, a 5xx.
    for fading in ("NoSuchEntity", "InjectedFault", "ServiceUnavailable", "InternalError"):
        assert type(aws_failure(error(fading))) is AwsCallFailed, fading
    assert isinstance(aws_failure(error("Throttling")), AwsCallFailed)
    assert isinstance(aws_failure(error("AccessDenied")), AwsCallFailed)


def test_no_state_machine_retries_a_refusal_and_every_step_still_catches_it():
    """Step Functions matches error names, not Python's classes: AwsCallRefused, a subclass in Python, is
    retried by no Retry, and every Catch of States.ALL takes it to the rollback path."""
    tasks = _task_states()
    assert tasks
    for name, state in tasks.items():
        for retrier in state.get("Retry", []):
            assert "AwsCallRefused" not in retrier["ErrorEquals"], name
            assert "States.ALL" not in retrier["ErrorEquals"], name
        assert any("States.ALL" in catcher["ErrorEquals"] for catcher in state.get("Catch", [])), name


def test_a_cors_rule_just_written_is_waited_for_by_the_function_not_cut_short_by_the_retrier():
    """Verify access ends the wait with VerificationFailed after CORS_SETTLE_RETRIES of the state's retries;
    the retrier must allow at least that many, or the run would end with a retryable error's name."""
    from provisioner_core.key_access import CORS_SETTLE_RETRIES

    state = ASL["States"]["Verify access"]
    [retry] = [r for r in state["Retry"] if r["ErrorEquals"] == ["CorsNotYetVisible"]]
    assert retry["MaxAttempts"] >= CORS_SETTLE_RETRIES
    assert retry["IntervalSeconds"] >= 1
    assert state["Parameters"]["cors_just_applied.$"] == "$.cors.rule_added"
    # A rotation wrote no CORS: a missing rule there is missing, not settling.
    rotation = ASLS["RotateConnectionKeyStateMachine"]["States"]["Verify access"]
    assert rotation["Parameters"]["cors_just_applied"] is False


def test_labellerr_unavailable_is_retried_for_about_a_minute_and_a_4xx_not_at_all():
    state = ASL["States"]["Register in Labellerr"]
    [retry] = [r for r in state["Retry"] if r["ErrorEquals"] == ["LabellerrUnavailable"]]
    waits = [retry["IntervalSeconds"] * retry["BackoffRate"] ** n for n in range(retry["MaxAttempts"])]
    assert 45 <= sum(waits) <= 75
    retried = {error for r in state["Retry"] for error in r["ErrorEquals"]}
    assert not retried & {"LabellerrRejected", "LabellerrTestFailed", "LabellerrMisconfigured"}
    # The function's own timeout leaves room for its Labellerr calls and the state's.
    function = FUNCTIONS["RegisterInLabellerrFunction"]
    assert function["Timeout"] < state["TimeoutSeconds"]


def test_verification_retries_propagation_every_second_for_about_two_minutes():
    [retry] = [
        r for r in ASL["States"]["Verify access"]["Retry"] if r["ErrorEquals"] == ["AccessNotYetEffective"]
    ]
    waits = [
        min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry.get("MaxDelaySeconds", 1e9))
        for n in range(retry["MaxAttempts"])
    ]
    assert 100 <= sum(waits) <= 130
    # The step near the usual 3-15 s of propagation is what decides the time to a verified key.
    assert max(waits[:15]) <= 1.5


def test_every_function_has_a_sample_event():
    assert {p.stem for p in (ROOT / "events").glob("*.json")} == set(FUNCTION_DIRS)


@pytest.mark.parametrize(
    "event_file",
    [p for p in sorted((ROOT / "events").glob("*.json")) if p.stem not in API_FUNCTIONS],
    ids=lambda p: p.stem,
)
def test_function_events_carry_exactly_what_the_state_machine_passes(event_file):
    event = json.loads(event_file.read_text())
    states = [s for n, s in _task_states().items() if _stem(n) == _letters(event_file.stem)]
    assert states
    for state in states:
        assert set(event) == {key.removesuffix(".$") for key in state["Parameters"]}
    if "connection" in event and event_file.stem != "remove_connection":
        assert set(event["connection"]) == set(get_type_hints(Connection))


@pytest.mark.parametrize(
    "input_file", sorted((ROOT / "events" / "state_machine").glob("*.json")), ids=lambda p: p.stem
)
def test_state_machine_inputs_still_parse(input_file):
    request = json.loads(input_file.read_text())
    if input_file.stem in ("offboard_connection", "rotate_connection_key"):
        assert connection_id_of(request) == request["connection_id"]
    elif input_file.stem.startswith("connection_health"):
        from functions.select_connections.app import select_connections

        # A sweep reads the registry; a single check does not.
        assert (
            select_connections(None, request)["connection_ids"]
            if "connection_id" in request
            else request["sweep"]
        )
    elif input_file.stem.startswith("invalid"):
        with pytest.raises(InvalidRequest) as raised:
            parse_request(request)
        assert {e["field"] for e in raised.value.errors} >= {"connection_name", "s3_uri", "access", "role"}
    else:
        # Every sample is valid on any stack, with or without Labellerr credentials; `dry_run` is the state
        # machine's own field (Dry run?), taken out before the request is parsed.
        parse_request(without_dry_run(request))


def test_the_rotation_schedule_exists_only_when_asked_and_runs_daily():
    assert TEMPLATE["Conditions"]["HasKeyRotationSchedule"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KeyRotationDays"}, "0"]}]
    }
    scheduler = RESOURCES["StartDueRotationsFunction"]
    assert scheduler["Condition"] == "HasKeyRotationSchedule"
    [event] = scheduler["Properties"]["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}
    variables = scheduler["Properties"]["Environment"]["Variables"]
    assert variables["ROTATE_STATE_MACHINE_ARN"] == {"Ref": "RotateConnectionKeyStateMachine"}
    assert TEMPLATE["Parameters"]["KeyRotationDays"]["Default"] == 0


def test_the_rotation_machine_is_started_by_its_event_and_waits_as_configured():
    machine = STATE_MACHINES["RotateConnectionKeyStateMachine"]
    [event] = machine["Events"].values()
    assert event["Properties"]["Pattern"] == {
        "source": {"Ref": "AllowedEventSources"},
        "detail-type": ["Connection Key Rotation Requested"],
    }
    assert event["Properties"]["InputPath"] == "$.detail"
    assert event["Properties"]["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["KeyRotationRequestedDeadLetterQueue", "Arn"]}
    }
    states = ASLS["RotateConnectionKeyStateMachine"]["States"]
    waits = {name: st for name, st in states.items() if st["Type"] == "Wait"}
    assert waits["Wait for adoption"]["SecondsPath"] == "$.rotation.timing.check_seconds"
    assert waits["Wait during grace"]["SecondsPath"] == "$.rotation.timing.check_seconds"
    # A rotation lasts days: no machine-wide timeout cuts a grace period short.
    assert "TimeoutSeconds" not in ASLS["RotateConnectionKeyStateMachine"]
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["KEY_ROTATION_ADOPTION_DAYS"] == {"Ref": "KeyRotationAdoptionDays"}
    assert variables["KEY_ROTATION_GRACE_DAYS"] == {"Ref": "KeyRotationGraceDays"}
    assert variables["KEY_ROTATION_CHECK_SECONDS"] == {"Ref": "KeyRotationCheckSeconds"}


def test_a_failure_before_the_promotion_is_undone_and_after_it_is_recorded():
    states = ASLS["RotateConnectionKeyStateMachine"]["States"]
    for step in ("Issue rotation key", "Verify access", "Hand over rotation key"):
        assert states[step]["Catch"][-1]["Next"] == "Undo rotation", step
    for step in ("Check key adoption", "Deactivate old key", "Check rotation grace", "Delete old key"):
        assert states[step]["Catch"][-1]["Next"] == "Record rotation outcome: interrupted", step
