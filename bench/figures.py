"""From what was recorded to the report's figures (a JSON-ready dict): medians, budgets, cost, diagnosis."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from bench import analysis, budgets, coldstart, cost, prices
from bench.clients import ADMIN_ACCESS_KEY_ID, FLOOR_ACCESS_KEY_ID
from bench.floor import FloorRun, call_mismatch
from bench.recorder import ASL_PARSE, KEYED_CLIENT, LAMBDA_TASK_CALL, Call, Recorder
from bench.stats import median, percentile
from bench.workload import Execution

OWN_KEYS: Final = frozenset({ADMIN_ACCESS_KEY_ID, FLOOR_ACCESS_KEY_ID})


@dataclass
class Measured:
    """Everything the runs against the stack produced."""

    warmup: Execution
    warmup_floor: FloorRun
    runs: list[Execution]
    floors: list[FloorRun]
    minimal_floors: list[FloorRun]
    concurrent: list[Execution]
    concurrent_wall_ms: float
    max_rss_mb: float
    definition: str
    memory_mb: dict[str, int]
    function_key: str
    problems: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class RunFigures:
    """One phase (one onboarding, or the concurrent batch) as the emulator and the handlers saw it."""

    phase: str
    calls: list[Call]
    by_operation: Counter[str]
    by_service: Counter[str]
    invokes: int
    invoke_ms: float
    handler_ms: dict[str, float]
    handler_count: Counter[str]
    calls_by_function: dict[str, list[Call]]
    # The interpreter's invocation of each function's Lambda task, to the handler and back (summed).
    task_call_ms: dict[str, float]
    keyed_client_ms: float
    asl_parse_ms: float
    gc_count: int
    gc_ms: float
    dynamodb_write_units: float
    dynamodb_read_units: float
    log_bytes: int


def run_figures(recorder: Recorder, phase: str, function_key: str) -> RunFigures:
    calls = recorder.calls_in(phase)
    flow = analysis.flow_calls(calls, own_keys=OWN_KEYS, function_key=function_key)
    handler_runs = recorder.handler_runs_in(phase)
    handler_ms: dict[str, float] = {}
    for run in handler_runs:
        handler_ms[run.function] = handler_ms.get(run.function, 0.0) + run.duration_ms
    by_function: dict[str, list[Call]] = {}
    for call in flow:
        by_function.setdefault(analysis.function_of(call, handler_runs), []).append(call)
    task_call_ms: dict[str, float] = {}
    for span in recorder.spans_in(phase, LAMBDA_TASK_CALL):
        function = analysis.function_in_span(span.started, span.duration_ms, handler_runs)
        task_call_ms[function] = task_call_ms.get(function, 0.0) + span.duration_ms
    # Invoke requests of the interpreter; none when the local stack dispatches Lambda tasks in-process.
    invokes = [
        call
        for call in calls
        if analysis.origin(call, own_keys=OWN_KEYS, function_key=function_key) == "orchestration"
        and call.operation == "Invoke"
    ]
    write_units = read_units = 0.0
    for call in flow:
        if call.service == "dynamodb":
            writes, reads = cost.dynamodb_units(
                call.operation, json.loads(call.request_body or "{}"), json.loads(call.response_body or "{}")
            )
            write_units += writes
            read_units += reads
    return RunFigures(
        phase=phase,
        calls=flow,
        by_operation=analysis.by_operation(flow),
        by_service=analysis.by_service(flow),
        invokes=len(invokes),
        invoke_ms=sum(call.duration_ms for call in invokes),
        handler_ms=handler_ms,
        handler_count=Counter(run.function for run in handler_runs),
        calls_by_function=by_function,
        task_call_ms=task_call_ms,
        keyed_client_ms=sum(s.duration_ms for s in recorder.spans_in(phase, KEYED_CLIENT)),
        asl_parse_ms=sum(s.duration_ms for s in recorder.spans_in(phase, ASL_PARSE)),
        gc_count=len(recorder.collections_in(phase)),
        gc_ms=sum(c.duration_ms for c in recorder.collections_in(phase)),
        dynamodb_write_units=write_units,
        dynamodb_read_units=read_units,
        log_bytes=recorder.log_bytes.get(phase, 0),
    )


def median_counter(counters: Sequence[Mapping[str, int]]) -> dict[str, float]:
    keys = sorted({key for counter in counters for key in counter})
    return {key: median([float(counter.get(key, 0)) for counter in counters]) for key in keys}


def _median_of(figures: Sequence[RunFigures], value: Callable[[RunFigures], float]) -> float:
    return median([value(f) for f in figures])


def usage_of(
    figures: Sequence[RunFigures], runs: Sequence[Execution], memory_mb: Mapping[str, int]
) -> cost.OnboardingUsage:
    operations = median_counter([f.by_operation for f in figures])
    functions = []
    for function, invocations in median_counter([f.handler_count for f in figures]).items():
        each = [
            f.handler_ms[function] / f.handler_count[function] for f in figures if f.handler_count[function]
        ]
        functions.append(
            cost.FunctionUsage(function, invocations, memory_mb.get(function, 128), median(each))
        )
    s3_classes: Counter[str] = Counter()
    for key, count in operations.items():
        service, operation = key.split(":", 1)
        if service == "s3":
            s3_classes[cost.s3_request_class(operation)] += int(count)
    return cost.OnboardingUsage(
        state_transitions=median([float(run.history.state_transitions) for run in runs]),
        functions=tuple(functions),
        secrets_manager_calls=sum(
            count for key, count in operations.items() if key.startswith("secretsmanager:")
        ),
        dynamodb_write_units=_median_of(figures, lambda f: f.dynamodb_write_units),
        dynamodb_read_units=_median_of(figures, lambda f: f.dynamodb_read_units),
        eventbridge_events=_median_of(
            figures,
            lambda f: float(
                sum(c.items for c in f.calls if c.service == "events" and c.operation == "PutEvents")
            ),
        ),
        s3_put_list_requests=s3_classes["put_list"],
        s3_get_other_requests=s3_classes["get_other"],
        xray_traces=1.0,
        log_bytes=_median_of(figures, lambda f: float(f.log_bytes)),
        secrets_kept=operations.get("secretsmanager:CreateSecret", 0.0)
        - operations.get("secretsmanager:DeleteSecret", 0.0),
    )


def _state_breakdown(
    runs: Sequence[Execution], figures: Sequence[RunFigures], definition: str
) -> list[dict[str, Any]]:
    state_to_function = analysis.state_functions(definition)
    durations: dict[str, list[float]] = {}
    for run in runs:
        for timing in run.history.timings:
            durations.setdefault(timing.state, []).append(timing.duration_ms)
    rows = []
    pairs = list(zip(runs, figures, strict=True))
    for state, values in durations.items():
        function = state_to_function.get(state) or ""
        calls = [f.calls_by_function.get(function, []) for f in figures]

        def state_ms(run: Execution, state: str = state) -> float:
            return sum(timing.duration_ms for timing in run.history.timings if timing.state == state)

        rows.append(
            {
                "state": state,
                "function": function or None,
                "state_ms": median(values),
                "handler_ms": median([f.handler_ms.get(function, 0.0) for f in figures]),
                # Outside the handler: the task's invocation (dispatch, JSON both ways, the Lambda context
                # and Powertools' wrapper) and the interpreter around it (paths, history events, the task's
                # thread and frame); each the median of the runs.
                "dispatch_ms": median(
                    [f.task_call_ms.get(function, 0.0) - f.handler_ms.get(function, 0.0) for f in figures]
                ),
                "interpreter_ms": median(
                    [state_ms(run) - f.task_call_ms.get(function, 0.0) for run, f in pairs]
                ),
                "aws_calls": median([float(len(c)) for c in calls]),
                "aws_calls_emulator_ms": median([sum(call.duration_ms for call in c) for c in calls]),
                "operations": median_counter([analysis.by_operation(c) for c in calls]),
            }
        )
    return rows


def _where_time_goes(
    runs: Sequence[Execution], figures: Sequence[RunFigures], definition: str
) -> dict[str, Any]:
    """The onboarding's time, decomposed; every figure is the median over the runs of that component."""
    pairs = list(zip(runs, figures, strict=True))

    def states_ms(run: Execution) -> float:
        return sum(timing.duration_ms for timing in run.history.timings)

    def handlers_ms(f: RunFigures) -> float:
        return sum(f.handler_ms.values())

    return {
        "states": _state_breakdown(runs, figures, definition),
        "onboarding_ms": median([run.server_ms for run in runs]),
        "before_first_state_ms": median([run.history.before_first_state_ms or 0.0 for run in runs]),
        "asl_parse_ms": _median_of(figures, lambda f: f.asl_parse_ms),
        "in_states_ms": median([states_ms(run) for run in runs]),
        "after_last_event_ms": median([run.history.after_last_event_ms or 0.0 for run in runs]),
        "handlers_ms": _median_of(figures, handlers_ms),
        "aws_calls_at_emulator_ms": _median_of(figures, lambda f: sum(c.duration_ms for c in f.calls)),
        "keyed_client_creation_ms": _median_of(figures, lambda f: f.keyed_client_ms),
        "in_states_outside_handlers_ms": median([states_ms(run) - handlers_ms(f) for run, f in pairs]),
        "tasks": median([float(run.history.lambda_invocations) for run in runs]),
        "task_dispatch_ms": _median_of(figures, lambda f: sum(f.task_call_ms.values()) - handlers_ms(f)),
        "interpreter_ms": median([states_ms(run) - sum(f.task_call_ms.values()) for run, f in pairs]),
        "invoke_requests_ms": _median_of(figures, lambda f: f.invoke_ms),
        "gc_collections": _median_of(figures, lambda f: float(f.gc_count)),
        "gc_ms": _median_of(figures, lambda f: f.gc_ms),
        "gc_ms_max": max(f.gc_ms for f in figures),
    }


def _cold_starts(
    cold: coldstart.ColdStarts, profiles: Mapping[str, coldstart.ImportProfile]
) -> dict[str, Any]:
    baseline = median([sample.ms for sample in cold.baseline])
    baseline_cpu = median([sample.cpu_ms for sample in cold.baseline])
    functions: dict[str, Any] = {}
    for function, samples in cold.functions.items():
        measured = bool(samples) and function not in cold.errors
        wall = median([s.ms for s in samples]) if measured else None
        cpu = median([s.cpu_ms for s in samples]) if measured else None
        profile = profiles.get(function)
        functions[function] = {
            "first_client": cold.services.get(function),
            "ms": [s.ms for s in samples],
            "cpu_ms": [s.cpu_ms for s in samples],
            "median_ms": wall,
            "ratio": None if wall is None else wall / baseline,
            "cpu_ratio": None if cpu is None else cpu / baseline_cpu,
            "budget": budgets.cold_start_limit(function),
            "error": cold.errors.get(function),
            "import_profile": None
            if profile is None
            else {
                "handler_module_ms": profile.module_ms,
                "direct_imports_ms": dict(profile.direct_imports_ms[:6]),
                "imports_while_creating_client_ms": profile.during_client_ms,
            },
        }
    return {
        "runs": cold.runs,
        "baseline": 'import boto3; boto3.client("s3")',
        "baseline_ms": [s.ms for s in cold.baseline],
        "baseline_median_ms": baseline,
        "baseline_cpu_median_ms": baseline_cpu,
        "functions": functions,
    }


def cold_start_ratios(cold: coldstart.ColdStarts) -> dict[str, float | None]:
    baseline = median([sample.ms for sample in cold.baseline])
    return {
        function: median([s.ms for s in samples]) / baseline
        if samples and function not in cold.errors
        else None
        for function, samples in cold.functions.items()
    }


def build_report(
    *,
    config: Mapping[str, Any],
    machine: Mapping[str, Any],
    cold: coldstart.ColdStarts,
    profiles: Mapping[str, coldstart.ImportProfile],
    measured: Measured,
    figures: Sequence[RunFigures],
    floor_calls: Sequence[Sequence[Call]],
    minimal_calls: Sequence[Sequence[Call]],
    concurrent_figures: RunFigures,
) -> dict[str, Any]:
    runs, floors = measured.runs, measured.floors
    flow_ms = [run.server_ms for run in runs]
    floor_ms = [run.wall_ms for run in floors]
    minimal_ms = [run.wall_ms for run in measured.minimal_floors]
    flow_over_floor = median(flow_ms) / median(floor_ms)

    # The floor is only a floor if it makes exactly the flow's calls: compared run by run, at the emulator.
    flow_operations = median_counter([f.by_operation for f in figures])
    drift = sorted(
        {
            problem
            for run_calls in floor_calls
            for problem in call_mismatch(flow_operations, analysis.by_operation(run_calls))
        }
    )
    flow_order = [f"{call.service}:{call.operation}" for call in figures[0].calls]
    floor_order = [f"{call.service}:{call.operation}" for call in floor_calls[0]]

    # Every run should make the same calls; the budget takes the worst run.
    worst = max((dict(f.by_service) for f in figures), key=budgets.budgeted_calls)
    results = budgets.evaluate(
        calls_by_service={service: float(count) for service, count in worst.items()},
        flow_over_floor=None if drift else flow_over_floor,
        flow_over_floor_detail=(
            f"the floor does not make the flow's calls ({'; '.join(drift)}): fix bench/floor.py run_floor"
            if drift
            else f"floor = the same {sum(flow_operations.values()):g} AWS calls the flow makes, in its "
            "order, from one plain boto3 script without orchestration"
        ),
        cold_start_ratios=cold_start_ratios(cold),
    )
    usage = usage_of(figures, runs, measured.memory_mb)
    one_time, monthly = cost.one_time_lines(usage), cost.monthly_lines(usage)

    floor_client_ms: dict[str, list[float]] = {}
    for floor in floors:
        for operation, elapsed in floor.calls_ms:
            floor_client_ms.setdefault(operation, []).append(elapsed)
    flow_emulator_ms: dict[str, list[float]] = {}
    for f in figures:
        for call in f.calls:
            flow_emulator_ms.setdefault(f"{call.service}:{call.operation}", []).append(call.duration_ms)
    floor_emulator_ms: dict[str, list[float]] = {}
    for run_calls in floor_calls:
        for call in run_calls:
            floor_emulator_ms.setdefault(f"{call.service}:{call.operation}", []).append(call.duration_ms)

    concurrent = measured.concurrent
    concurrent_ms = [run.server_ms for run in concurrent if run.status == "SUCCEEDED"]
    problems = dict(measured.problems)
    problems["the floor makes the flow's AWS calls (service:operation, counted at the emulator)"] = drift
    problems["sequential onboardings succeed"] = [
        f"{run.connection_id}: {run.status} {run.error}" for run in runs if run.status != "SUCCEEDED"
    ]
    problems["concurrent onboardings succeed"] = [
        f"{run.connection_id}: {run.status} {run.error}" for run in concurrent if run.status != "SUCCEEDED"
    ]
    return {
        "machine": dict(machine),
        "config": dict(config),
        "method": {
            "flow": "describe_execution stopDate - startDate (millisecond precision); client_ms: "
            "StartExecution sent to the 20 ms poll that saw the final status",
            "flow_wait": "the benchmark reads the execution's status in-process every 5 ms (no request, "
            "so no CPU taken from the execution), then sends one DescribeExecution",
            "floor": "floor = the same AWS calls the flow makes (every IAM, S3, Secrets Manager, DynamoDB "
            "and EventBridge call, counted at the emulator and checked equal, run by run), in the flow's "
            "order and with its parameters, from one plain sequential boto3 script without orchestration; "
            "perf_counter around it (its clients exist beforehand, like warm functions'; the new key's "
            "client is made inside, as verification does)",
            "minimal_floor": "for information only: the 9 calls an onboarding cannot do without (user, "
            "policy, attach, CORS read and write, key, secret, list and 1-byte read with the new key)",
            "runs": "1 warm-up onboarding and 1 warm-up floor run first, not counted; then flow and floor "
            "runs interleaved",
            "calls": "counted at the emulator (moto's WSGI dispatcher); excluded: the benchmark's own calls "
            "(keys bench-admin, bench-floor) and the interpreter's Lambda Invoke / Step Functions traffic",
            "percentile": "linear between closest ranks",
            "gc": "before every measured run the benchmark collects garbage and freezes the survivors "
            "(gc.freeze): one process holds the whole emulated cloud, and a full collection over it (about "
            "300 ms) would otherwise land in a random run; collections during runs are still timed",
        },
        "sequential": {
            "server_ms": flow_ms,
            "client_ms": [run.client_ms for run in runs],
            "median_ms": median(flow_ms),
            "p95_ms": percentile(flow_ms, 95),
            "warmup_ms": measured.warmup.server_ms,
        },
        "floor": {
            "wall_ms": floor_ms,
            "median_ms": median(floor_ms),
            "p95_ms": percentile(floor_ms, 95),
            "warmup_ms": measured.warmup_floor.wall_ms,
            "calls_client_ms_median": {op: median(v) for op, v in floor_client_ms.items()},
            "calls_at_emulator": median_counter([analysis.by_operation(c) for c in floor_calls]),
            "calls": sum(len(c) for c in floor_calls) / len(floor_calls),
            "same_calls_as_flow": not drift,
            "drift": drift,
            "same_order_as_flow": floor_order == flow_order,
            "order": floor_order,
            "flow_order": flow_order,
            "calls_emulator_ms_median": {op: median(v) for op, v in sorted(floor_emulator_ms.items())},
        },
        "flow_over_floor": flow_over_floor,
        "minimal_floor": {
            "wall_ms": minimal_ms,
            "median_ms": median(minimal_ms),
            "p95_ms": percentile(minimal_ms, 95),
            "calls": sum(len(c) for c in minimal_calls) / len(minimal_calls),
            "calls_at_emulator": median_counter([analysis.by_operation(c) for c in minimal_calls]),
            "flow_over_minimal_floor": median(flow_ms) / median(minimal_ms),
        },
        "calls_per_onboarding": {
            "by_operation_median": median_counter([f.by_operation for f in figures]),
            "by_service_worst_run": worst,
            "identical_in_every_run": analysis.unanimous([f.by_operation for f in figures]),
            "emulator_ms_median_by_operation": {op: median(v) for op, v in sorted(flow_emulator_ms.items())},
        },
        "orchestration": {
            "lambda_invocations_history": median([float(run.history.lambda_invocations) for run in runs]),
            "state_transitions_history": median([float(run.history.state_transitions) for run in runs]),
            "invoke_requests_at_emulator": _median_of(figures, lambda f: float(f.invokes)),
            "states_entered": list(runs[0].history.states_entered),
        },
        "where_time_goes": _where_time_goes(runs, figures, measured.definition),
        "cold_starts": _cold_starts(cold, profiles),
        "max_rss_mb": measured.max_rss_mb,
        "concurrent": {
            "count": len(concurrent),
            "succeeded": sum(run.status == "SUCCEEDED" for run in concurrent),
            "wall_ms": measured.concurrent_wall_ms,
            "median_ms": median(concurrent_ms) if concurrent_ms else None,
            "p95_ms": percentile(concurrent_ms, 95) if concurrent_ms else None,
            "calls_per_onboarding_by_service": {
                service: count / len(concurrent)
                for service, count in sorted(concurrent_figures.by_service.items())
            },
        },
        "cost": {
            "usage_per_onboarding": asdict(usage),
            "one_time": [asdict(line) for line in one_time],
            "one_time_usd": cost.total_usd(one_time),
            "monthly": [asdict(line) for line in monthly],
            "monthly_usd": cost.total_usd(monthly),
            "prices_quoted_on": prices.QUOTED_ON,
            "prices": {name: asdict(price) for name, price in prices.ALL.items()},
        },
        "budgets": [asdict(result) | {"passed": result.passed} for result in results],
        "budgets_missed": [budgets.describe(result) for result in budgets.missed(results)],
        "checks": problems,
    }
