"""Turning what the recorder saw into per-onboarding figures: whose calls, which function, how long."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from bench.recorder import Call, HandlerRun

Origin = Literal["benchmark", "orchestration", "functions", "issued key"]
FLOW_ORIGINS: Final = frozenset({"functions", "issued key"})
DYNAMODB_WRITES: Final = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
DYNAMODB_READS: Final = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


def origin(call: Call, *, own_keys: frozenset[str], function_key: str) -> Origin:
    """Who made a call: the benchmark, the interpreter (Invoke, Step Functions), the functions, or a key
    the flow issued (verification)."""
    if call.access_key in own_keys:
        return "benchmark"
    if call.service == "stepfunctions" or (call.service == "lambda" and call.operation == "Invoke"):
        return "orchestration"
    if call.access_key == function_key:
        return "functions"
    return "issued key"


def flow_calls(calls: Iterable[Call], *, own_keys: frozenset[str], function_key: str) -> list[Call]:
    return [
        call for call in calls if origin(call, own_keys=own_keys, function_key=function_key) in FLOW_ORIGINS
    ]


def by_operation(calls: Iterable[Call]) -> Counter[str]:
    return Counter(f"{call.service}:{call.operation}" for call in calls)


def by_service(calls: Iterable[Call]) -> Counter[str]:
    return Counter(call.service for call in calls)


def function_of(call: Call, runs: Sequence[HandlerRun]) -> str:
    """The handler running when the call reached the emulator (sequential runs: at most one)."""
    for run in runs:
        if run.started <= call.started <= run.started + run.duration_ms / 1000:
            return run.function
    return "(none)"


def function_in_span(started: float, duration_ms: float, runs: Sequence[HandlerRun]) -> str:
    """The handler that started during a span (an invocation of a Lambda task); sequential runs: one."""
    for run in runs:
        if started <= run.started <= started + duration_ms / 1000:
            return run.function
    return "(none)"


def state_functions(definition: str) -> dict[str, str]:
    """State name -> function name, for the Task states of a rendered ASL definition (top level)."""
    states: Mapping[str, Any] = json.loads(definition)["States"]
    mapping = {}
    for name, state in states.items():
        resource = str(state.get("Resource", ""))
        if state.get("Type") != "Task" or not resource:
            continue
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            resource = str(state.get("Parameters", {}).get("FunctionName", ""))
        mapping[name] = resource.split(":function:", 1)[-1].split(":", 1)[0]
    return mapping


def unanimous(values: Sequence[Mapping[str, int]]) -> bool:
    return all(value == values[0] for value in values[1:])
