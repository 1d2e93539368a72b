"""Workflow variables in JSONPath states, as Step Functions documents them, on the local stack's interpreter.

The flows' Catches record the failing state's name with `"Assign": {"failed_state.$": "$$.State.Name"}`;
these check what that relies on: a Catcher's Assign sees the context object of the state that failed and
its error output as `$`, a later state reads `$name` and `$name.path`, and an unassigned name fails the
state with States.Runtime.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner_local.emulator import LocalStack
from provisioner_local.workflow_variables import VariableReferenceError, resolve

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
ROLE = "arn:aws:iam::123456789012:role/test"
FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


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


def _execute(sfn, definition: dict[str, Any], payload: Any = None) -> dict[str, Any]:
    machine = sfn.create_state_machine(
        name=f"vars-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    arn = sfn.start_execution(
        stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:12]}", input=json.dumps(payload or {})
    )["executionArn"]
    deadline = time.monotonic() + 15
    while (described := sfn.describe_execution(executionArn=arn))["status"] not in FINAL:
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.01)
    return described


def _failing(name: str, error: str) -> dict[str, Any]:
    """A state that fails with `error` and records, in its Catch, which state failed and how."""
    return {
        "Type": "Parallel",
        "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": error, "Cause": "c"}}}],
        "Catch": [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.failure",
                "Assign": {"failed_state.$": "$$.State.Name", "error_output.$": "$"},
                "Next": "Report",
            }
        ],
        "Next": "Report",
    }


def test_a_catch_names_the_state_that_failed_and_later_states_read_it(sfn) -> None:
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Assign": {"failed_state": None}, "Next": "Create the thing"},
            "Create the thing": _failing("Create the thing", "Kaput"),
            "Report": {
                "Type": "Pass",
                "Parameters": {
                    "failed_state.$": "$failed_state",
                    "error.$": "$error_output.Error",
                    "failure.$": "$.failure",
                    "said.$": "States.Format('{} failed', $failed_state)",
                },
                "End": True,
            },
        },
    }
    described = _execute(sfn, definition, {"a": 1})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {
        "failed_state": "Create the thing",
        "error": "Kaput",
        "failure": {"Error": "Kaput", "Cause": "c"},
        "said": "Create the thing failed",
    }


def test_a_variable_keeps_its_value_until_assigned_again_and_choices_read_it(sfn) -> None:
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Pass",
                "Assign": {"failed_state": None, "n": {"k": [1, 2]}},
                "Next": "Nothing failed?",
            },
            "Nothing failed?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$failed_state", "IsNull": True, "Next": "Step"}],
                "Default": "Report",
            },
            "Step": {"Type": "Pass", "Assign": {"stepped": True}, "Next": "Report"},
            "Report": {
                "Type": "Pass",
                "Parameters": {
                    "failed_state.$": "$failed_state",
                    "second.$": "$n.k[1]",
                    "stepped.$": "$stepped",
                },
                "End": True,
            },
        },
    }
    described = _execute(sfn, definition)
    assert json.loads(described["output"]) == {"failed_state": None, "second": 2, "stepped": True}


def test_an_unassigned_variable_fails_the_state_with_states_runtime(sfn) -> None:
    definition = {
        "StartAt": "Report",
        "States": {"Report": {"Type": "Pass", "Parameters": {"v.$": "$never_assigned"}, "End": True}},
    }
    described = _execute(sfn, definition)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "$never_assigned" in described["cause"]


def test_resolve_reads_a_name_and_a_path_and_copies_the_value() -> None:
    store = {"v": {"a": [{"b": 1}]}}

    def lookup(name: str) -> Any:
        return store[name]

    def extract(path: str, value: Any) -> Any:
        assert path == "$.a[0]"
        return value["a"][0]

    assert resolve("$v", lookup, extract) == store["v"]
    assert resolve("$v", lookup, extract) is not store["v"]
    assert resolve("$v.a[0]", lookup, extract) == {"b": 1}
    with pytest.raises(VariableReferenceError, match=r"'\$w' is not assigned"):
        resolve("$w", lookup, extract)
    with pytest.raises(VariableReferenceError, match="not a variable reference"):
        resolve("$$.State.Name", lookup, extract)
