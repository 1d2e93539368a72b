"""The contracts (provisioner_core.contracts) say what the state machines pass: each Task's Parameters are its
handler's event TypedDict, and each flow's run state holds exactly the keys its states write."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from provisioner_core.contracts import run_state

ROOT = Path(__file__).resolve().parents[2]
RUN_STATES: dict[str, Any] = {
    "onboard_connection": run_state.OnboardingRun,
    "offboard_connection": run_state.OffboardingRun,
    "rotate_connection_key": run_state.RotationRun,
}


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(states(branch))
        if "ItemProcessor" in state:
            found.update(states(state["ItemProcessor"]))
    return found


def asl(flow: str) -> dict[str, dict[str, Any]]:
    return states(json.loads((ROOT / "statemachine" / f"{flow}.asl.json").read_text()))


def tasks() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (flow, name, state)
        for flow in RUN_STATES
        for name, state in asl(flow).items()
        if state["Type"] == "Task"
    ]


def function_dir(resource: str) -> str:
    """`${ValidateRequestFunctionArn}` -> validate_request, the function's directory."""
    match = re.fullmatch(r"\$\{(\w+)FunctionArn\}", resource)
    assert match, resource
    return re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()


def event_annotation(directory: str) -> str:
    """The name the handler's `event` parameter is annotated with, read from its source (the contracts are
    imported for type checking only)."""
    tree = ast.parse((ROOT / "functions" / directory / "app.py").read_text())
    handler = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "lambda_handler"
    )
    annotation = handler.args.args[0].annotation
    assert isinstance(annotation, ast.Name), ast.dump(annotation) if annotation else directory
    return annotation.id


@pytest.mark.parametrize(
    ("flow", "name", "state"), tasks(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_each_task_passes_its_handler_s_event(flow: str, name: str, state: dict[str, Any]) -> None:
    event = getattr(run_state, event_annotation(function_dir(state["Resource"])))
    passed = {key.removesuffix(".$") for key in state["Parameters"]}
    assert passed == event.__required_keys__ | event.__optional_keys__, f"{flow}: {name}"
    assert event.__required_keys__ <= passed, f"{flow}: {name}"


@pytest.mark.parametrize("flow", list(RUN_STATES))
def test_each_run_state_holds_what_its_states_write(flow: str) -> None:
    written = {"request"}
    for state in asl(flow).values():
        paths = [state.get("ResultPath"), *(catch.get("ResultPath") for catch in state.get("Catch", []))]
        written |= {path.removeprefix("$.") for path in paths if isinstance(path, str) and path != "$"}
    if flow == "onboard_connection":
        written.add("connection")  # Validate request's result replaces the state ($): {"connection": ...}
    run = RUN_STATES[flow]
    assert set(run.__optional_keys__ | run.__required_keys__) == written
