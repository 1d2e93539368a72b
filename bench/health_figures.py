"""From what the recorder saw during the health phases to their figures: calls split by who made them and
what they touch, Lambda time per step, transitions, cost (bench.cost, bench.prices) and the budgets.

Calls are split four ways: the AWS calls of the check's functions and of the key they read (the budget),
the DynamoDB calls on the registry record and the bucket's lease items (reported apart), Labellerr's test
(S3 calls the stand-in makes with the connection's key; billed to the bucket owner, not budgeted), and the
unsigned CORS preflights (no SDK call, unbilled).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Final

from bench import analysis, budgets, cost, prices
from bench.clients import ADMIN_ACCESS_KEY_ID, FLOOR_ACCESS_KEY_ID, Clients
from bench.history import summarize
from bench.recorder import PREFLIGHT_SERVICE, Call, HandlerRun, Recorder
from bench.stats import median

OWN_KEYS: Final = frozenset({ADMIN_ACCESS_KEY_ID, FLOOR_ACCESS_KEY_ID})
CHECK_FUNCTION: Final = "CheckConnectionHealthFunction"
DYNAMODB_WRITES: Final = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


def function_key() -> str:
    from provisioner_local.stack_common import DUMMY_ACCESS_KEY_ID

    return DUMMY_ACCESS_KEY_ID


def steps_of(definition: Mapping[str, Any]) -> dict[str, str]:
    """Function name -> state name, for every Lambda Task of a rendered definition, inside Maps too."""
    found: dict[str, str] = {}
    for name, state in definition.get("States", {}).items():
        resource = str(state.get("Resource", ""))
        if state.get("Type") == "Task" and ":function:" in resource:
            found[resource.split(":function:", 1)[-1].split(":", 1)[0]] = name
        for nested in ("ItemProcessor", "Iterator"):
            if nested in state:
                found.update(steps_of(state[nested]))
    return found


def health_steps(stack: Any) -> dict[str, str]:
    arn = stack.state_machines["ConnectionHealthStateMachine"]
    for machine in stack.template.state_machines():
        if stack.state_machines.get(machine.logical_id) == arn:
            return steps_of(json.loads(machine.render_definition()))
    return {}


def split_calls(calls: Iterable[Call], labellerr_tag: str) -> dict[str, list[Call]]:
    flow = analysis.flow_calls(calls, own_keys=OWN_KEYS, function_key=function_key())
    ours = [call for call in flow if call.origin_tag != labellerr_tag]
    return {
        "aws": [c for c in ours if c.service not in ("dynamodb", PREFLIGHT_SERVICE)],
        "dynamodb": [c for c in ours if c.service == "dynamodb"],
        "labellerr": [c for c in flow if c.origin_tag == labellerr_tag],
        "preflights": [c for c in ours if c.service == PREFLIGHT_SERVICE],
    }


# --- the registry's items, as a steady-state sweep finds them (with the last check's `health`)


def registry_item(admin: Clients, stack: Any, connection_id: str) -> dict[str, Any]:
    item: dict[str, Any] = admin("dynamodb").get_item(
        TableName=stack.function_environment["CONNECTIONS_TABLE"],
        Key={"connection_id": {"S": connection_id}},
        ConsistentRead=True,
    )["Item"]
    return item


def registry_items(admin: Clients, stack: Any) -> list[dict[str, Any]]:
    pages = admin("dynamodb").get_paginator("scan")
    table = stack.function_environment["CONNECTIONS_TABLE"]
    return [item for page in pages.paginate(TableName=table) for item in page["Items"]]


def dynamodb_units(
    calls: Iterable[Call], registry_table: str, item_bytes: Mapping[str, int]
) -> tuple[float, float]:
    """(write, read) units. The registry's by its items' sizes now (DynamoDB bills an update by the whole
    item, and a Scan by every item it reads: the calls' own bodies can be cut short by the recorder); all
    Scans together read the table once. The lease items' by their own bodies (bench.cost)."""
    writes = reads = 0.0
    scanned = False
    for call in calls:
        request = json.loads(call.request_body or "{}")
        if request.get("TableName") != registry_table:
            w, r = cost.dynamodb_units(call.operation, request, json.loads(call.response_body or "{}"))
            writes, reads = writes + w, reads + r
            continue
        size = item_bytes.get(str(request.get("Key", {}).get("connection_id", {}).get("S", "")), 0)
        if call.operation in DYNAMODB_WRITES:
            writes += cost.write_units(size)
        elif call.operation == "GetItem":
            reads += cost.read_units(size, consistent=bool(request.get("ConsistentRead")))
        elif call.operation in ("Scan", "Query") and not scanned:
            scanned = True
            reads += cost.read_units(sum(item_bytes.values()), consistent=bool(request.get("ConsistentRead")))
    return writes, reads


def sizes(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    return {str(item["connection_id"]["S"]): cost.dynamodb_item_bytes(item) for item in items}


# --- usage and cost


def usage(
    *,
    per: float,
    transitions: float,
    runs: Sequence[HandlerRun],
    memory_mb: Mapping[str, int],
    split: Mapping[str, Sequence[Call]],
    units: tuple[float, float],
    executions: float,
    log_bytes: float,
) -> cost.OnboardingUsage:
    """What `per` connections used, per connection (bench.cost's usage record, no secret kept)."""
    functions = []
    for function, count in sorted(Counter(run.function for run in runs).items()):
        billed = sum(cost.billed_ms(run.duration_ms) for run in runs if run.function == function)
        functions.append(
            cost.FunctionUsage(function, count / per, memory_mb.get(function, 128), billed / count)
        )
    s3_classes = Counter(
        cost.s3_request_class(c.operation) for c in [*split["aws"], *split["labellerr"]] if c.service == "s3"
    )
    return cost.OnboardingUsage(
        state_transitions=transitions / per,
        functions=tuple(functions),
        secrets_manager_calls=sum(c.service == "secretsmanager" for c in split["aws"]) / per,
        dynamodb_write_units=units[0] / per,
        dynamodb_read_units=units[1] / per,
        eventbridge_events=sum(c.items for c in split["aws"] if c.operation == "PutEvents") / per,
        s3_put_list_requests=s3_classes["put_list"] / per,
        s3_get_other_requests=s3_classes["get_other"] / per,
        xray_traces=executions / per,
        log_bytes=log_bytes / per,
        secrets_kept=0.0,
    )


def cost_of(used: cost.OnboardingUsage) -> dict[str, Any]:
    lines = cost.one_time_lines(used)
    return {
        "usage": asdict(used),
        "lines": [asdict(line) for line in lines],
        "usd": cost.total_usd(lines),
        "lambda_gb_s": cost.lambda_gb_seconds(used.functions),
        "prices_quoted_on": prices.QUOTED_ON,
    }


def by_step(runs: Sequence[HandlerRun], steps: Mapping[str, str], per: float) -> dict[str, dict[str, float]]:
    """Per step: invocations and handler milliseconds per connection, and the mean of one invocation."""
    found: dict[str, dict[str, float]] = {}
    for function, count in Counter(run.function for run in runs).items():
        total = sum(run.duration_ms for run in runs if run.function == function)
        found[steps.get(function, function)] = {
            "invocations": count / per,
            "ms": total / per,
            "ms_each": total / count,
        }
    return found


def _median_counter(counters: Sequence[Counter[str]]) -> dict[str, float]:
    keys = sorted({key for counter in counters for key in counter})
    return {key: median([float(counter.get(key, 0)) for counter in counters]) for key in keys}


def check_figures(
    recorder: Recorder,
    phases: Sequence[str],
    histories: Sequence[Sequence[Mapping[str, Any]]],
    statuses: Sequence[str],
    *,
    stack: Any,
    record: Mapping[str, Any],
    labellerr_tag: str,
) -> dict[str, Any]:
    """One check of one connection, each figure the median over the measured runs (they should agree)."""
    steps = health_steps(stack)
    memory = {name: loaded.spec.memory_size for name, loaded in stack.functions.items()}
    table = stack.function_environment["CONNECTIONS_TABLE"]
    item_bytes = sizes([record])
    splits = [split_calls(recorder.calls_in(phase), labellerr_tag) for phase in phases]
    transitions = [float(summarize(history).state_transitions) for history in histories]
    costs, step_rows = [], []
    for phase, split, moves in zip(phases, splits, transitions, strict=True):
        runs = recorder.handler_runs_in(phase)
        step_rows.append(by_step(runs, steps, 1))
        costs.append(
            cost_of(
                usage(
                    per=1, transitions=moves, runs=runs, memory_mb=memory, split=split,
                    units=dynamodb_units(split["dynamodb"], table, item_bytes), executions=1,
                    log_bytes=float(recorder.log_bytes.get(phase, 0)),
                )
            )
        )  # fmt: skip
    aws_calls = [analysis.by_operation(split["aws"]) for split in splits]
    health = registry_health(record)
    return {
        "runs": len(phases),
        "statuses": sorted(set(statuses)),
        "health": health["status"],
        "findings": health["findings"],
        "aws_calls": _median_counter(aws_calls),
        "aws_calls_total_worst": max(sum(c.values()) for c in aws_calls),
        "aws_calls_identical_in_every_run": analysis.unanimous(aws_calls),
        "dynamodb_calls": _median_counter([analysis.by_operation(s["dynamodb"]) for s in splits]),
        "labellerr_test_calls": _median_counter([analysis.by_operation(s["labellerr"]) for s in splits]),
        "preflights": median([float(len(s["preflights"])) for s in splits]),
        "transitions": median(transitions),
        "steps": {
            step: {key: median([row.get(step, {}).get(key, 0.0) for row in step_rows]) for key in keys}
            for step, keys in {s: ("invocations", "ms", "ms_each") for row in step_rows for s in row}.items()
        },
        "cost": min(costs, key=lambda c: abs(c["usd"] - median([x["usd"] for x in costs]))),
        "record_bytes": sum(item_bytes.values()),
    }


def registry_health(item: Mapping[str, Any]) -> dict[str, Any]:
    health = item.get("health", {}).get("M", {})
    findings = health.get("findings", {}).get("L", [])
    failed = item.get("health_check_error", {}).get("M", {})
    return {
        "status": health.get("status", {}).get("S", "(none)"),
        # Why a check recorded no verdict (Record health's health_check_error), when it did not.
        "check_error": failed.get("error", {}).get("S", ""),
        "findings": sorted({str(f["M"]["check"]["S"]) for f in findings}),
        "execution_arn": health.get("execution_arn", {}).get("S", ""),
    }


def max_overlap(runs: Iterable[HandlerRun]) -> int:
    """The most handler runs in flight at once (a run ending as another starts is not an overlap)."""
    runs = list(runs)
    edges = sorted(
        [(run.started, 1) for run in runs] + [(run.started + run.duration_ms / 1000, -1) for run in runs],
        key=lambda edge: (edge[0], edge[1]),
    )
    current = peak = 0
    for _, change in edges:
        current += change
        peak = max(peak, current)
    return peak


def sweep_figures(
    recorder: Recorder,
    phase: str,
    *,
    stack: Any,
    connection_ids: Sequence[str],
    described: Sequence[Mapping[str, Any]],
    histories: Sequence[Sequence[Mapping[str, Any]]],
    records: Sequence[Mapping[str, Any]],
    wall_s: float,
    seeded_s: float,
    cap: int,
    environments: int,
    labellerr_tag: str,
) -> dict[str, Any]:
    n = len(connection_ids)
    memory = {name: loaded.spec.memory_size for name, loaded in stack.functions.items()}
    table = stack.function_environment["CONNECTIONS_TABLE"]
    split = split_calls(recorder.calls_in(phase), labellerr_tag)
    runs = recorder.handler_runs_in(phase)
    transitions = float(sum(summarize(history).state_transitions for history in histories))
    used = usage(
        per=n, transitions=transitions, runs=runs, memory_mb=memory, split=split,
        units=dynamodb_units(split["dynamodb"], table, sizes(records)), executions=len(described),
        log_bytes=float(recorder.log_bytes.get(phase, 0)),
    )  # fmt: skip
    wanted = set(connection_ids)
    health = {
        str(r["connection_id"]["S"]): registry_health(r) for r in records if r["connection_id"]["S"] in wanted
    }
    arns = {str(d["executionArn"]) for d in described}
    statuses = Counter(h["status"] for h in health.values())
    check_errors = Counter(h["check_error"] for h in health.values() if h["check_error"])
    per = {key: analysis.by_operation(calls) for key, calls in split.items()}
    return {
        "connections": n,
        "executions": len(described),
        "execution_statuses": dict(Counter(str(d["status"]) for d in described)),
        "check_errors": dict(check_errors),
        "wall_s": round(wall_s, 1),
        "seconds_per_connection": wall_s / n,
        "seeding_s": round(seeded_s, 1),
        "cap": cap,
        "environments_per_function": environments,
        "max_concurrent_checks": max_overlap(r for r in runs if r.function == CHECK_FUNCTION),
        "checks_run": sum(r.function == CHECK_FUNCTION for r in runs),
        "health": dict(statuses),
        "checked_by_this_sweep": sum(h["execution_arn"] in arns for h in health.values()),
        "aws_calls_per_connection": {k: v / n for k, v in sorted(per["aws"].items())},
        "aws_calls_per_connection_total": len(split["aws"]) / n,
        "dynamodb_calls_per_connection": {k: v / n for k, v in sorted(per["dynamodb"].items())},
        "labellerr_test_calls_per_connection": {k: v / n for k, v in sorted(per["labellerr"].items())},
        "transitions_per_connection": transitions / n,
        "steps": by_step(runs, health_steps(stack), n),
        "cost": cost_of(used),
    }


def sweep_problems(sweep: Mapping[str, Any]) -> list[str]:
    problems = [
        f"{count} connection(s) {status} after the sweep"
        for status, count in sweep["health"].items()
        if status != "HEALTHY"
    ]
    if sweep["checked_by_this_sweep"] != sweep["connections"]:
        problems.append(f"{sweep['checked_by_this_sweep']} of {sweep['connections']} checked by the sweep")
    problems += [
        f"{n} sweep execution(s) {s}" for s, n in sweep["execution_statuses"].items() if s != "SUCCEEDED"
    ]
    return problems


def section(checks: Mapping[str, Any], sweep: Mapping[str, Any] | None) -> dict[str, Any]:
    """The report's "health" section: figures, budgets, checks."""
    results = budgets.health_budgets(checks, sweep)
    problems = {
        f"a fresh {access} connection is HEALTHY": []
        if figures["health"] == "HEALTHY" and figures["statuses"] == ["SUCCEEDED"]
        else [f"{figures['health']} ({figures['statuses']})"]
        for access, figures in checks.items()
    }
    if sweep is not None:
        problems["every swept connection checked once, HEALTHY"] = sweep_problems(sweep)
    return {
        "check": dict(checks),
        "sweep": None if sweep is None else dict(sweep),
        "budgets": [asdict(r) | {"passed": r.passed, "line": budgets.describe(r)} for r in results],
        "budgets_missed": [budgets.describe(r) for r in budgets.missed(results)],
        "checks": problems,
    }


def extrapolate(sweep: Mapping[str, Any], connections: int) -> float:
    """Wall seconds for `connections`, linear in the measured rate (the sweep's work is per connection)."""
    return math.ceil(sweep["seconds_per_connection"] * connections)
