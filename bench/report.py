"""Plain-text tables for the terminal and a Markdown table for docs/performance.md."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bench import budgets
from bench.stats import median, percentile


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, indent: str = "  ") -> str:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(values: Sequence[str]) -> str:
        parts = []
        for index, value in enumerate(values):
            numeric = index > 0 and _looks_numeric(value)
            parts.append(value.rjust(widths[index]) if numeric else value.ljust(widths[index]))
        return (indent + "  ".join(parts)).rstrip()

    rule = indent + "  ".join("-" * width for width in widths)
    return "\n".join([line(list(headers)), rule, *(line(row) for row in cells)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _looks_numeric(value: str) -> bool:
    stripped = value.replace(",", "").replace(".", "").replace("-", "").replace("$", "").replace("x", "")
    return bool(stripped) and stripped.split()[0].isdigit()


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    if value >= 0.01:
        return f"${value:.2f}"
    return f"${value:.8f}".rstrip("0")


def usd_short(value: float) -> str:
    """Two significant figures: what docs/performance.md needs."""
    if value == 0:
        return "$0"
    decimals = max(2, 1 - math.floor(math.log10(abs(value))))
    return f"${value:.{decimals}f}"


def heading(title: str) -> str:
    return f"\n== {title} " + "=" * max(3, 100 - len(title))


def stats_row(label: str, values: Sequence[float]) -> list[str]:
    return [
        label,
        str(len(values)),
        ms(median(values)),
        ms(percentile(values, 95)),
        ms(min(values)),
        ms(max(values)),
    ]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_report(report: Mapping[str, Any]) -> None:
    seq, floor, config = report["sequential"], report["floor"], report["config"]
    minimal = report["minimal_floor"]
    calls_made = f"{sum(report['calls_per_onboarding']['by_operation_median'].values()):g}"
    print(heading(f"Onboarding wall time ({config['n']} sequential onboardings, after 1 warm-up)"))
    print(
        table(
            ["", "n", "median ms", "p95 ms", "min ms", "max ms"],
            [
                stats_row("flow: StartExecution to final (startDate/stopDate)", seq["server_ms"]),
                stats_row("flow: client-side (status read in-process every 5 ms)", seq["client_ms"]),
                stats_row(f"floor: plain boto3 script, {floor['calls']:g} calls", floor["wall_ms"]),
                stats_row(
                    f"for information: the {minimal['calls']:g} calls no onboarding can skip",
                    minimal["wall_ms"],
                ),
            ],
        )
    )
    print(
        f"  floor = the same {calls_made} AWS calls the flow makes, without orchestration: every IAM, S3, "
        "Secrets Manager, DynamoDB and EventBridge call of the flow's functions, in the flow's order and "
        "with its parameters, from one plain sequential boto3 script"
    )
    if floor["same_calls_as_flow"]:
        order = "same order" if floor["same_order_as_flow"] else "ANOTHER ORDER than the flow's"
        print(f"  checked at the emulator, run by run: the floor's calls are the flow's ({order})")
    else:
        print("  FAILED: the floor no longer makes the flow's calls; flow / floor is not measured:")
        for problem in floor["drift"]:
            print(f"      {problem}")
    verdict = (
        f"budget at most {budgets.FLOW_OVER_FLOOR_BUDGET:g}x"
        if floor["same_calls_as_flow"]
        else "NOT COMPARABLE: the floor makes other calls"
    )
    print(
        f"  flow / floor (median / median): {report['flow_over_floor']:.2f}x ({verdict}); flow / the "
        f"{minimal['calls']:g}-call minimum: {minimal['flow_over_minimal_floor']:.2f}x (information only)"
    )
    print(f"  warm-up runs (not counted): flow {ms(seq['warmup_ms'])} ms, floor {ms(floor['warmup_ms'])} ms")

    calls = report["calls_per_onboarding"]
    print(heading("AWS calls per onboarding, counted at the emulator (median of the runs)"))
    emulator_ms = calls["emulator_ms_median_by_operation"]
    floor_ms = floor["calls_emulator_ms_median"]

    def at_floor(operation: str) -> str:
        return ms(floor_ms[operation]) if operation in floor_ms else "-"

    print(
        table(
            ["service:operation", "calls", "ms each at the emulator", "same call in the floor"],
            [
                [op, f"{n:g}", ms(emulator_ms.get(op, 0.0)), at_floor(op)]
                for op, n in calls["by_operation_median"].items()
            ],
        )
    )
    services = calls["by_service_worst_run"]
    budgeted = sum(services.get(service, 0) for service in budgets.BUDGETED_SERVICES)
    print(
        f"  IAM + S3 + Secrets Manager: {budgeted}; beside them: "
        + ", ".join(f"{s} {n}" for s, n in sorted(services.items()) if s not in budgets.BUDGETED_SERVICES)
        + f"; identical in every run: {'yes' if calls['identical_in_every_run'] else 'NO'}"
    )
    print(f"  {report['method']['calls']}")
    orchestration = report["orchestration"]
    print(
        f"  per execution (history): {orchestration['lambda_invocations_history']:g} Lambda invocations "
        f"(LambdaFunctionScheduled/TaskScheduled), {orchestration['state_transitions_history']:g} state "
        f"transitions (StateEntered); Invoke requests at the emulator: "
        f"{orchestration['invoke_requests_at_emulator']:g} (the local stack dispatches Lambda tasks "
        "in-process)"
    )
    print("  states: " + " > ".join(orchestration["states_entered"]))

    where = report["where_time_goes"]
    print(heading("Where an onboarding's time goes (medians of the sequential runs)"))
    print(
        table(
            [
                "state",
                "state ms",
                "handler ms",
                "of it calls ms",
                "outside handler",
                "dispatch",
                "interpreter",
                "AWS calls made by the handler",
            ],
            [
                [
                    row["state"],
                    ms(row["state_ms"]),
                    ms(row["handler_ms"]),
                    ms(row["aws_calls_emulator_ms"]),
                    ms(row["state_ms"] - row["handler_ms"]),
                    ms(row["dispatch_ms"]),
                    ms(row["interpreter_ms"]),
                    ", ".join(
                        f"{op}{'' if n == 1 else f' x{n:g}'}" for op, n in row["operations"].items() if n
                    ),
                ]
                for row in where["states"]
            ],
        )
    )
    tasks = max(where["tasks"], 1.0)
    print(
        "  outside handler = dispatch (the task's invocation around the handler: JSON both ways, the Lambda "
        "context, Powertools' wrapper) + interpreter (moto: paths, history events, the task's thread)"
    )
    print(
        f"  onboarding {ms(where['onboarding_ms'])} ms (each line a median over the runs):\n"
        f"    StartExecution to the first state: {ms(where['before_first_state_ms'])} ms (ASL parse, "
        f"once per definition, not per execution: {ms(where['asl_parse_ms'])} ms)\n"
        f"    in states: {ms(where['in_states_ms'])} ms; after the last event: "
        f"{ms(where['after_last_event_ms'])} ms\n"
        f"    in handlers: {ms(where['handlers_ms'])} ms: AWS calls (time at the emulator) "
        f"{ms(where['aws_calls_at_emulator_ms'])} ms; aws.client_with_key (the S3 client with the new key, "
        f"Verify access) {ms(where['keyed_client_creation_ms'])} ms; the rest is handler code, Powertools "
        f"and client-side botocore\n"
        f"    in states outside handlers: {ms(where['in_states_outside_handlers_ms'])} ms for "
        f"{where['tasks']:g} Lambda tasks ({ms(where['in_states_outside_handlers_ms'] / tasks)} ms each): "
        f"dispatch {ms(where['task_dispatch_ms'])} ms, moto's interpreter {ms(where['interpreter_ms'])} ms "
        f"(Invoke requests at the emulator: {ms(where['invoke_requests_ms'])} ms)\n"
        f"    garbage collection, anywhere in the process during the run: {where['gc_collections']:g} "
        f"collections, {ms(where['gc_ms'])} ms (worst run {ms(where['gc_ms_max'])} ms)"
    )
    print(
        "  floor, client ms per call (median): "
        + ", ".join(f"{op} {ms(value)}" for op, value in floor["calls_client_ms_median"].items())
    )

    cold = report["cold_starts"]
    print(
        heading(
            f"Cold start: import handler + its first AWS client, median of {cold['runs']} fresh interpreters"
        )
    )
    rows = [
        ["baseline: " + cold["baseline"], "-", ms(cold["baseline_median_ms"]), "1.00x", "1.00x", "-", ""],
    ]
    for function, entry in cold["functions"].items():
        ratio = entry["ratio"]
        verdict = "ok" if ratio is not None and ratio <= entry["budget"] else "MISSED"
        rows.append(
            [
                function,
                entry["first_client"] or "-",
                "-" if entry["median_ms"] is None else ms(entry["median_ms"]),
                _ratio(ratio),
                _ratio(entry["cpu_ratio"]),
                f"{entry['budget']:g}x",
                verdict + (f" ({entry['error']})" if entry["error"] else ""),
            ]
        )
    print(table(["function", "first client", "median ms", "ratio", "CPU ratio", "budget", ""], rows))
    for function, entry in cold["functions"].items():
        profile = entry["import_profile"]
        if profile:
            imports = ", ".join(f"{name} {ms(value)}" for name, value in profile["direct_imports_ms"].items())
            print(
                f"  {function} (python -X importtime, one run): handler module "
                f"{ms(profile['handler_module_ms'])} ms = {imports}"
            )

    conc = report["concurrent"]
    print(heading(f"{conc['count']} concurrent onboardings (thread pool, distinct buckets)"))
    print(
        f"  {conc['succeeded']}/{conc['count']} succeeded; total wall time {ms(conc['wall_ms'])} ms; each "
        f"(startDate/stopDate): median {ms(conc['median_ms'] or 0)} ms, p95 {ms(conc['p95_ms'] or 0)} ms"
    )
    print(
        "  calls per onboarding: "
        + ", ".join(f"{s} {n:g}" for s, n in conc["calls_per_onboarding_by_service"].items())
    )
    print(f"  peak RSS of the process running the stack, after all runs: {report['max_rss_mb']:.0f} MB")

    money = report["cost"]
    print(
        heading("Cost per onboarding in AWS (estimate; prices in bench/prices.py, us-east-1, no free tier)")
    )
    print(
        table(
            ["item", "quantity", "unit", "USD", "basis"],
            [
                [line["item"], f"{line['quantity']:.4g}", line["unit"], usd(line["usd"]), line["basis"]]
                for line in [*money["one_time"], *money["monthly"]]
            ],
        )
    )
    print(
        f"  one-time per onboarding: {usd(money['one_time_usd'])}; each live connection: "
        f"{usd(money['monthly_usd'])} a month (its secret). Prices as quoted on {money['prices_quoted_on']}."
    )

    print(heading("Checks"))
    for name, found in report["checks"].items():
        print(f"  {'ok' if not found else 'FAILED'}: {name}")
        for problem in found[:20]:
            print(f"      {problem}")
    print(heading("Budgets"))
    for entry in report["budgets"]:
        print(
            "  " + budgets.describe(budgets.BudgetResult(**{k: v for k, v in entry.items() if k != "passed"}))
        )
    print(heading("Markdown summary (for docs/performance.md)"))
    print(markdown_summary(report))


def markdown_summary(report: Mapping[str, Any]) -> str:
    seq, floor, machine = report["sequential"], report["floor"], report["machine"]
    minimal = report["minimal_floor"]
    calls = report["calls_per_onboarding"]["by_service_worst_run"]
    orchestration, cold = report["orchestration"], report["cold_starts"]
    conc, money = report["concurrent"], report["cost"]
    passed = {entry["name"]: entry["passed"] for entry in report["budgets"]}
    ratios = [e["ratio"] for e in cold["functions"].values() if e["ratio"] is not None]
    cold_missed = [
        name.removeprefix("cold start ").removesuffix(" / baseline")
        for name, ok in passed.items()
        if name.startswith("cold start") and not ok
    ]
    checks_ok = not any(report["checks"].values())

    def verdict(name: str) -> str:
        return "met" if passed.get(name) else "**missed**"

    budgeted = sum(calls.get(service, 0) for service in budgets.BUDGETED_SERVICES)
    rows = [
        [
            "Onboarding, StartExecution to ACTIVE (median / p95)",
            f"{ms(seq['median_ms'])} / {ms(seq['p95_ms'])} ms",
            "",
        ],
        [
            f"Floor: the flow's {floor['calls']:g} AWS calls from a plain boto3 script, no orchestration "
            "(median)",
            f"{ms(floor['median_ms'])} ms",
            "same calls as the flow: " + ("checked" if floor["same_calls_as_flow"] else "**NO**"),
        ],
        [
            "Flow / floor",
            f"{report['flow_over_floor']:.1f}x",
            f"at most 2.0x: {verdict('flow / floor (median / median)')}",
        ],
        [
            f"For information: the {minimal['calls']:g} calls no onboarding can skip (median; flow / it)",
            f"{ms(minimal['median_ms'])} ms ({minimal['flow_over_minimal_floor']:.1f}x)",
            "",
        ],
        [
            "IAM + S3 + Secrets Manager calls per onboarding",
            f"{budgeted} (IAM {calls.get('iam', 0)}, S3 {calls.get('s3', 0)}, "
            f"Secrets Manager {calls.get('secretsmanager', 0)})",
            f"at most {budgets.CALLS_BUDGET}: "
            f"{verdict('IAM + S3 + Secrets Manager calls per onboarding (import)')}",
        ],
        [
            "DynamoDB / EventBridge calls per onboarding",
            f"{calls.get('dynamodb', 0)} / {calls.get('events', 0)}",
            "",
        ],
        [
            "Lambda invocations / state transitions per onboarding",
            f"{orchestration['lambda_invocations_history']:g} / "
            f"{orchestration['state_transitions_history']:g}",
            "",
        ],
        [
            'Cold start (import + first client) vs `import boto3; boto3.client("s3")`',
            f"{min(ratios):.2f}x to {max(ratios):.2f}x" if ratios else "-",
            "steps at most 1.5x, validation and API at most 2.0x: "
            + ("met" if not cold_missed else "**missed** by " + ", ".join(cold_missed)),
        ],
        [
            f"{conc['count']} concurrent onboardings",
            f"{conc['succeeded']}/{conc['count']} ACTIVE in {conc['wall_ms'] / 1000:.1f} s"
            + ("; outputs match, keys fenced, nothing left over" if checks_ok else "; **checks failed**"),
            "",
        ],
        ["Peak memory (max RSS) of the local stack process", f"{report['max_rss_mb']:.0f} MB", ""],
        [
            "AWS cost per onboarding (estimate)",
            f"{usd_short(money['one_time_usd'])} once, then {usd_short(money['monthly_usd'])} a month "
            "(the secret)",
            "",
        ],
    ]
    header = (
        f"`make bench` against the embedded local stack on {machine['cpu']} "
        f"({machine['usable_cores']} cores), {machine['python']}, {machine['platform']}; "
        f"{report['config']['n']} sequential onboardings."
    )
    return header + "\n\n" + markdown_table(["Measure", "Value", "Budget"], rows)
