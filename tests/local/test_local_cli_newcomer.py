"""What a newcomer hits first with provisioner-local onboard (issue 13): a bad --bucket or --prefix touches
nothing, failure traces keep their columns and name the run's own error, the cause is printed once, every
option has help, and the stack runs in the region the user set."""

from __future__ import annotations

import argparse
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from provisioner_cli.trace import NAME_WIDTH, OUTCOME_WIDTH, ExecutionTrace
from provisioner_local.cli import build_parser, main
from provisioner_local.emulator import LocalStack, LocalStackError
from provisioner_local.template import ACCOUNT_ID, SamTemplate
from tests.support.local_cli import FIXTURE_TEMPLATE, needs_project


def _objects() -> dict[str, set[str]]:
    """Every bucket moto holds in this process (its data outlives a stack), with its keys."""
    from moto.s3.models import s3_backends

    buckets = s3_backends[ACCOUNT_ID]["aws"].buckets
    return {name: set(bucket.keys.keys()) for name, bucket in buckets.items()}


def _api_errors(request: dict[str, Any]) -> list[dict[str, str]]:
    """What the API answers 400 with for `request`: the errors of its own request model."""
    from provisioner_core.errors import InvalidRequest
    from provisioner_core.request import parse_request

    with pytest.raises(InvalidRequest) as raised:
        parse_request(request, labellerr_available=True)
    return [dict(error) for error in raised.value.errors]


# --- a bad request touches nothing


@needs_project
def test_an_invalid_bucket_is_refused_with_the_apis_error_before_it_is_created(capsys):
    before = _objects()

    code = main(["onboard", "--bucket", "My_Bucket"])

    out = capsys.readouterr().out
    assert code == 2, out
    [error] = _api_errors(
        {"connection_name": "Demo images", "bucket": "My_Bucket", "access": "import", "apply_cors": True}
    )
    assert error["field"] == "bucket"
    assert f"  bucket (--bucket): {error['message']}\n" in out
    assert "nothing was created" in out
    assert "POST " not in out
    assert "My_Bucket" not in _objects()
    assert _objects() == before


@needs_project
def test_a_prefix_that_climbs_is_refused_before_the_demo_bucket_or_a_sample_is_made(capsys):
    before = _objects()

    code = main(["onboard", "--prefix", "../etc/"])

    out = capsys.readouterr().out
    assert code == 2, out
    bucket = re.search(r"labellerr-demo-[a-z0-9]+", out)
    assert bucket is None, "the demo bucket is not even announced"
    errors = _api_errors(
        {"connection_name": "Demo images", "bucket": "labellerr-demo-abcdef", "prefix": "../etc/"}
    )
    for error in errors:
        assert f"  {error['field']} (--{error['field']}): {error['message']}\n" in out
    assert _objects() == before
    assert not any(key.startswith("../") for keys in _objects().values() for key in keys)


@needs_project
def test_every_invalid_field_is_listed_with_its_option(capsys):
    code = main(["onboard", "--bucket", "ok-bucket", "--prefix", "../etc/", "--connection-name", "Bad/Name"])

    out = capsys.readouterr().out
    assert code == 2, out
    assert "  connection_name (--connection-name): " in out
    assert "  prefix (--prefix): " in out
    assert "ok-bucket" not in _objects()


# --- the trace


def _at(ms: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _failed(event_id: int, ms: int, error: str, message: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"error": error}
    if message is not None:
        details["cause"] = json.dumps({"errorMessage": message, "errorType": error, "stackTrace": []})
    return {"id": event_id, "type": "TaskFailed", "timestamp": _at(ms), "taskFailedEventDetails": details}


def _state(event_id: int, kind: str, ms: int, name: str) -> dict[str, Any]:
    key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
    return {"id": event_id, "type": kind, "timestamp": _at(ms), key: {"name": name}}


def _scheduled(event_id: int, ms: int) -> dict[str, Any]:
    return {"id": event_id, "type": "TaskScheduled", "timestamp": _at(ms)}


INJECTED = "CreateAccessKey failed with InjectedFault: Injected fault for iam:CreateAccessKey"


def test_the_trace_names_an_aws_failure_as_the_run_ends_with_it():
    out = io.StringIO()
    ExecutionTrace(out).feed(
        [
            _state(1, "TaskStateEntered", 0, "Issue access key"),
            _scheduled(2, 1),
            _failed(3, 5, "AwsCallFailed", INJECTED),
            _scheduled(4, 6),
            _failed(5, 9, "AwsCallFailed", INJECTED),
            _state(6, "TaskStateExited", 10, "Issue access key"),
        ]
    )

    text = " ".join(out.getvalue().split())
    # Rollback then fails the run with IssueAccessKey.InjectedFault: the trace says the same.
    assert (
        "Issue access key failed: IssueAccessKey.InjectedFault 10 ms (caught), retried 1x (InjectedFault)"
        in text
    )
    assert "AwsCallFailed" not in text


def test_an_error_that_carries_no_aws_code_keeps_its_name():
    out = io.StringIO()
    ExecutionTrace(out).feed(
        [
            _state(1, "TaskStateEntered", 0, "Verify access"),
            _scheduled(2, 1),
            _failed(3, 5, "VerificationFailed", "the key cannot list the prefix"),
            _state(4, "TaskStateExited", 6, "Verify access"),
        ]
    )
    assert "failed: VerifyAccess.VerificationFailed" in " ".join(out.getvalue().split())


def test_long_names_and_outcomes_wrap_inside_their_columns():
    out = io.StringIO()
    trace = ExecutionTrace(out)
    events: list[dict[str, Any]] = [_state(1, "TaskStateEntered", 0, "Record outcome: rollback failed")]
    for attempt, error in enumerate(["Throttling", "ServiceUnavailable", "InternalFailure", "SlowDown"]):
        events += [_scheduled(2 + 2 * attempt, attempt), _failed(3 + 2 * attempt, attempt, "AwsCallFailed",
                   f"PutItem failed with {error}: try again")]  # fmt: skip
    events += [_scheduled(20, 30), _state(21, "TaskStateExited", 1234, "Record outcome: rollback failed")]
    events += [_state(22, "TaskStateEntered", 1234, "Done"), _state(23, "TaskStateExited", 1240, "Done")]
    trace.feed(events)

    lines = out.getvalue().splitlines()
    assert len(lines) > 2, "the long outcome wraps"
    firsts = [line for line in lines if line.endswith(" ms")]
    assert len(firsts) == 2
    # The milliseconds end in the same column on every state's first line, whatever its outcome.
    assert len({len(line) for line in firsts}) == 1
    outcome_column = 2 + NAME_WIDTH + 1
    for line in lines:
        assert len(line) <= outcome_column + OUTCOME_WIDTH + 10
        if not line.endswith(" ms"):
            assert line[outcome_column - 1] == " ", "a continuation stays in its column"
    # Read down the columns, the name and the outcome are whole again.
    first_state = lines[: lines.index(firsts[1])]
    name = " ".join(line[2 : 2 + NAME_WIDTH].strip() for line in first_state).strip()
    end = outcome_column + OUTCOME_WIDTH
    outcome = " ".join(line[outcome_column:end].strip() for line in first_state)
    assert name == "Record outcome: rollback failed"
    assert outcome == "succeeded, retried 4x (InternalFailure, ServiceUnavailable, SlowDown, Throttling)"
    assert first_state[0][end:].split() == ["1234", "ms"]


@needs_project
def test_a_failed_onboarding_prints_its_cause_once_and_one_name_for_its_error(capsys):
    code = main(["onboard", "--fault", "iam:CreateAccessKey"])

    out = capsys.readouterr().out
    assert code == 1, out
    assert out.count("Injected fault for iam:CreateAccessKey") == 1
    assert "Cause:" in out
    assert '"cause": "(below, under Cause)"' in out
    trace_line = next(line for line in out.splitlines() if line.startswith("  Issue access key "))
    assert "failed: IssueAccessKey.InjectedFault" in trace_line
    assert "Execution FAILED: IssueAccessKey.InjectedFault" in out
    assert "AwsCallFailed" not in out


# --- help


def _parsers(parser: argparse.ArgumentParser, name: str = "provisioner-local") -> list[tuple[str, Any]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                found += _parsers(sub, f"{name} {command}")
    return found


def test_every_option_of_every_command_has_help_text():
    parsers = _parsers(build_parser())
    assert {name for name, _ in parsers} >= {"provisioner-local serve", "provisioner-local onboard"}
    for name, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings}"
            assert action.help != argparse.SUPPRESS, f"{name} {action.option_strings}"
            assert len(action.help) >= 15, f"{name} {action.option_strings}: {action.help!r}"


@pytest.mark.parametrize("command", [[], ["serve"], ["onboard"]])
def test_help_prints_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: provisioner-local" in capsys.readouterr().out


def test_serve_help_names_the_default_port_and_the_api_port(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 4566" in text
    assert "--api-port" in text


# --- the region


def test_the_template_resolves_in_the_region_it_is_given():
    template = SamTemplate.load(FIXTURE_TEMPLATE, region="eu-west-3")
    echo = next(spec for spec in template.functions() if spec.logical_id == "EchoFunction")

    assert echo.arn == f"arn:aws:lambda:eu-west-3:{ACCOUNT_ID}:function:EchoFunction"
    assert echo.environment["FIXTURE_GREETING"] == "hello-eu-west-3"
    assert all(":eu-west-3:" in machine.arn for machine in template.state_machines())


def test_a_stack_refuses_a_region_that_is_no_region_name():
    with pytest.raises(LocalStackError, match="not a region name"):
        LocalStack(template_path=FIXTURE_TEMPLATE, region="Paris")


def test_a_stack_runs_its_functions_in_its_region():
    with LocalStack(template_path=FIXTURE_TEMPLATE, region="eu-west-3") as stack:
        assert all(":eu-west-3:" in arn for arn in stack.state_machines.values())
        response = stack.client("lambda").invoke(FunctionName="EchoFunction", Payload=b"{}")
        payload = json.loads(response["Payload"].read())
        assert payload["greeting"] == "hello-eu-west-3"
        assert ":eu-west-3:" in payload["invoked_function_arn"]


@needs_project
@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_onboard_runs_in_the_region_the_user_set(variable, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv(variable, "eu-west-3")

    code = main(["onboard"])

    out = capsys.readouterr().out
    assert code == 0, out
    record = json.loads(out.split("Registry record:\n", 1)[1].split("\n}\n", 1)[0] + "\n}")
    assert record["region"] == "eu-west-3"
    assert ":states:eu-west-3:" in record["execution_arn"]
    assert "--region eu-west-3 secretsmanager get-secret-value" in out
