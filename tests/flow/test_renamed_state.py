"""A renamed state renames the failure: the state machines record which state failed, nothing mirrors them.

Runs a copy of the deployed onboarding machine (its definition as the stack created it, substitutions
resolved) in which one state has another name, on the same functions.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from provisioner_local.emulator import LocalStack
from tests.support.executions import start, unique_id, wait_for_run
from tests.support.residue import leftovers


def renamed(definition: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The definition with state `old` called `new`, and every transition to it following."""
    text = json.dumps(definition)
    copy = json.loads(text)
    states = copy["States"]
    states[new] = states.pop(old)

    def follow(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("Next", "Default", "StartAt") and value == old:
                    node[key] = new
                else:
                    follow(value)
        elif isinstance(node, list):
            for item in node:
                follow(item)

    follow(copy)
    assert old not in json.dumps(copy)
    return copy


def test_renaming_a_state_renames_the_failing_step_and_the_error(
    stack: LocalStack, sfn: Any, iam: Any, secrets: Any, bucket: str, faults: Any
) -> None:
    deployed = sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)
    definition = renamed(json.loads(deployed["definition"]), "Issue access key", "Mint access key")
    machine_arn = sfn.create_state_machine(
        name=f"renamed-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=deployed["roleArn"]
    )["stateMachineArn"]
    connection_id = unique_id()
    # The fault names the function, which the rename leaves alone.
    faults(["iam:CreateAccessKey@IssueAccessKey"])
    stack.settle()

    run = wait_for_run(
        sfn,
        start(
            sfn,
            machine_arn,
            {"connection_name": "x", "connection_id": connection_id, "s3_uri": f"{bucket}/images/"},
        ),
    )

    assert run.status == "FAILED"
    assert run.error == "MintAccessKey.InjectedFault", run.cause
    cause = run.cause_json
    assert (cause["failed_step"], cause["error"]) == ("Mint access key", "InjectedFault")
    # What the run made is still found and removed: cleanup never depended on the state's name.
    assert any(item.startswith("IAM user ") for item in cause["rolled_back"])
    assert leftovers(iam, secrets, connection_id) == []
