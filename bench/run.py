"""`make bench`: the onboarding flow measured against the embedded local stack.

    python -m bench.run [--n 20] [--concurrency 20] [--cold-runs 5] [--json bench/results/latest.json]

The floor of the flow / floor budget is the same AWS calls the flow makes (every IAM, S3, Secrets Manager,
DynamoDB and EventBridge call of its functions, in its order, with its parameters), made by one plain
sequential boto3 script without orchestration; the benchmark checks at the emulator, run by run, that the
floor's calls are the flow's, and fails when they drift. The 9-call minimum is reported for information.

Prints the machine, the tables and a Markdown summary for the docs, and writes every figure to the JSON
file. Exit status: 0 when every budget and check passes, 1 when one is missed (listed under "Budgets" and
"Checks"), 2 when the benchmark cannot run (the stack does not start, the warm-up onboarding fails).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import json
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from bench import budgets, checks, coldstart, health, health_report, propagation, throttle
from bench.clients import ADMIN_ACCESS_KEY_ID, FLOOR_ACCESS_KEY_ID, Clients
from bench.customer_bucket import seed_bucket
from bench.figures import Measured, build_report, cold_start_ratios, run_figures
from bench.floor import FloorRun, run_floor, run_minimal_floor
from bench.machine import machine_info
from bench.recorder import KEYED_CLIENT, LogSink, Recorder
from bench.report import heading, print_report
from bench.workload import (
    Execution,
    StatusReader,
    execution_result,
    history_of,
    onboard,
    start_execution,
    wait_for_final,
)
from provisioner_local.emulator import LocalStack
from provisioner_local.stack_common import DUMMY_ACCESS_KEY_ID

ROOT: Final = Path(__file__).resolve().parents[1]
DEFAULT_JSON: Final = ROOT / "bench" / "results" / "latest.json"
ONBOARD_MACHINE: Final = "OnboardConnectionStateMachine"
WARMUP_ID: Final = "bench-warm"
# How often the benchmark looks (in-process, no request) whether an execution has ended.
WATCH_S: Final = 0.005


class BenchError(RuntimeError):
    """The benchmark cannot produce its figures."""


def settle() -> None:
    """Collect, then freeze what survives: one process holds the whole emulated cloud, and a full
    collection scanning all of moto's state (about 300 ms here) would otherwise land in a random run."""
    gc.collect()
    gc.freeze()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="Benchmark of the onboarding flow."
    )
    parser.add_argument(
        "--n", type=int, default=20, help="sequential onboardings and floor runs (default 20)"
    )
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent onboardings (default 20)")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold starts per function (default 5)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    parser.add_argument(
        "--propagation-runs",
        type=int,
        default=40,
        help="onboardings under the IAM propagation model (default 40; 0 skips them)",
    )
    parser.add_argument(
        "--propagation-delay",
        default=propagation.DEFAULT_SPEC,
        help=f"the model's SPEC, as serve --propagation-delay takes it (default {propagation.DEFAULT_SPEC})",
    )
    parser.add_argument(
        "--throttle-runs",
        type=int,
        default=budgets.THROTTLE_RUNS,
        help=f"onboardings at once under IAM throttling (default {budgets.THROTTLE_RUNS}; 0 skips them)",
    )
    parser.add_argument(
        "--iam-throttle",
        default=throttle.DEFAULT_SPEC,
        help=f"the throttle model's SPEC, as serve --iam-throttle takes it (default {throttle.DEFAULT_SPEC})",
    )
    parser.add_argument(
        "--deadline", type=float, default=60.0, help="seconds one onboarding may take (default 60)"
    )
    health_report.add_arguments(parser)
    args = parser.parse_args(argv)
    if (
        args.n < 1
        or args.concurrency < 2
        or args.cold_runs < 1
        or args.deadline <= 0
        or args.throttle_runs < 0
    ):
        parser.error(
            "--n and --cold-runs must be at least 1, --concurrency at least 2, --deadline positive, "
            "--throttle-runs 0 or more"
        )
    return args


def status_reader(stack: LocalStack) -> StatusReader:
    """An execution's status read from moto's backend in this process: no request, no CPU taken from it."""
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(stack.account_id, stack.region)

    def status_of(execution_arn: str) -> str:
        return str(backend.describe_execution(execution_arn).status)

    return status_of


def exercise(stack: LocalStack, recorder: Recorder, args: argparse.Namespace) -> Measured:
    """Warm-up, then N onboardings, N floor runs and N minimal floor runs interleaved, then the concurrent
    batch, then checks."""
    admin = Clients(stack.endpoint_url, stack.region, ADMIN_ACCESS_KEY_ID)
    floor_clients = Clients(stack.endpoint_url, stack.region, FLOOR_ACCESS_KEY_ID)
    sfn = admin("stepfunctions")
    status_of = status_reader(stack)
    recorder.instrument_handlers(stack)
    recorder.time_function(importlib.import_module("provisioner_core.aws"), "client_with_key", KEYED_CLIENT)
    machine_arn = stack.state_machines.get(ONBOARD_MACHINE) or stack.state_machine_arn
    if stack.template is None:
        raise BenchError("the local stack has no template")
    definition = next(
        machine.render_definition()
        for machine in stack.template.state_machines()
        if stack.state_machines.get(machine.logical_id) == machine_arn
    )

    sequential = [f"bench-seq-{index:02d}" for index in range(1, args.n + 1)]
    concurrent = [f"bench-par-{index:02d}" for index in range(1, args.concurrency + 1)]
    floor_buckets = [f"bench-floor-{index:02d}" for index in range(args.n + 1)]
    minimal_buckets = [f"bench-minimal-{index:02d}" for index in range(args.n + 1)]
    for bucket in [WARMUP_ID, *sequential, *concurrent, *floor_buckets, *minimal_buckets]:
        seed_bucket(admin("s3"), bucket)
    environment = stack.function_environment

    def flow(connection_id: str) -> Execution:
        return onboard(
            sfn,
            machine_arn,
            connection_id,
            connection_id,
            deadline_s=args.deadline,
            poll_s=WATCH_S,
            status_of=status_of,
        )

    settle()
    with recorder.phase("warmup-flow"):
        warmup = flow(WARMUP_ID)
    if warmup.status != "SUCCEEDED":
        raise BenchError(
            f"the warm-up onboarding {warmup.status}: {warmup.error}: {(warmup.cause or '')[:2000]}"
        )
    settle()
    with recorder.phase("warmup-floor"):
        warmup_floor = run_floor(floor_clients, floor_buckets[0], 0, environment)
    settle()
    with recorder.phase("warmup-minimal"):
        run_minimal_floor(floor_clients, minimal_buckets[0], 0)

    runs: list[Execution] = []
    floors: list[FloorRun] = []
    minimal_floors: list[FloorRun] = []
    for index, connection_id in enumerate(sequential, start=1):
        settle()
        with recorder.phase(f"flow:{index:02d}"):
            runs.append(flow(connection_id))
        settle()
        with recorder.phase(f"floor:{index:02d}"):
            floors.append(run_floor(floor_clients, floor_buckets[index], index, environment))
        settle()
        with recorder.phase(f"minimal:{index:02d}"):
            minimal_floors.append(run_minimal_floor(floor_clients, minimal_buckets[index], index))

    settle()
    with recorder.phase("concurrent"):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(concurrent)) as pool:
            arns = list(pool.map(lambda cid: start_execution(sfn, machine_arn, cid, cid), concurrent))
        final, seen_at = wait_for_final(
            sfn, arns, deadline_s=args.deadline * 3, poll_s=WATCH_S, status_of=status_of
        )
        wall_ms = (max(seen_at.values()) - started) * 1000
    concurrent_runs = [
        execution_result(sfn, final[arn], cid, cid, (seen_at[arn] - started) * 1000)
        for arn, cid in zip(arns, concurrent, strict=True)
    ]
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    problems = {
        "sequential outputs match their requests": [
            problem for run in [warmup, *runs] for problem in checks.output_problems(run, admin, environment)
        ],
        "concurrent outputs match their requests": [
            problem for run in concurrent_runs for problem in checks.output_problems(run, admin, environment)
        ],
        "each concurrent key lists its bucket, is denied on another's": checks.key_fence_problems(
            concurrent_runs, admin
        ),
        "nothing left behind (one user, key, policy, secret, ACTIVE record each)": checks.leftover_problems(
            admin, [WARMUP_ID, *sequential, *concurrent], environment
        ),
    }
    return Measured(
        warmup=warmup,
        warmup_floor=warmup_floor,
        runs=runs,
        floors=floors,
        minimal_floors=minimal_floors,
        concurrent=concurrent_runs,
        concurrent_wall_ms=wall_ms,
        max_rss_mb=max_rss_mb,
        definition=definition,
        memory_mb={name: loaded.spec.memory_size for name, loaded in stack.functions.items()},
        function_key=DUMMY_ACCESS_KEY_ID,
        problems=problems,
    )


def propagation_phase(stack: LocalStack, args: argparse.Namespace, definition: str) -> dict[str, Any]:
    """Onboardings under the IAM propagation model (bench.propagation), on the same stack."""
    admin = Clients(stack.endpoint_url, stack.region, ADMIN_ACCESS_KEY_ID)
    sfn = admin("stepfunctions")
    machine_arn = stack.state_machines.get(ONBOARD_MACHINE) or stack.state_machine_arn
    status_of = status_reader(stack)

    def onboard_one(connection_id: str) -> Execution:
        settle()
        return onboard(
            sfn, machine_arn, connection_id, connection_id, deadline_s=args.deadline, poll_s=WATCH_S,
            status_of=status_of,
        )  # fmt: skip

    def history(arn: str) -> list[dict[str, Any]]:
        return list(sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])

    print(f"  {args.propagation_runs} onboardings under the propagation model ({args.propagation_delay}) ...")
    return propagation.run_phase(
        stack,
        onboard_one,
        history,
        lambda bucket: seed_bucket(admin("s3"), bucket),
        runs=args.propagation_runs,
        spec=args.propagation_delay,
        definition=json.loads(definition),
    )


def throttle_phase(stack: LocalStack, args: argparse.Namespace) -> dict[str, Any]:
    """Many onboardings at once under the IAM throttle model (bench.throttle), on the same stack, checked."""
    from provisioner_core.cors import rule_id_for

    admin = Clients(stack.endpoint_url, stack.region, ADMIN_ACCESS_KEY_ID)
    sfn = admin("stepfunctions")
    machine_arn = stack.state_machines.get(ONBOARD_MACHINE) or stack.state_machine_arn
    status_of = status_reader(stack)
    for bucket in sorted({bucket for _, bucket in throttle.plan_runs(args.throttle_runs)}):
        seed_bucket(admin("s3"), bucket)
    print(
        f"  {args.throttle_runs} onboardings at once under IAM throttling ({args.iam_throttle}) ...",
        flush=True,
    )
    settle()
    # The functions' metrics print to stdout at the end of each invocation: 100 at once would bury the report.
    with contextlib.redirect_stdout(io.StringIO()):
        results, figures = throttle.run_phase(
            stack,
            lambda connection_id, bucket: start_execution(sfn, machine_arn, connection_id, bucket),
            lambda arns, deadline: wait_for_final(
                sfn, arns, deadline_s=deadline, poll_s=0.05, status_of=status_of
            ),
            lambda arn: history_of(sfn, arn),
            runs=args.throttle_runs,
            spec=args.iam_throttle,
            deadline_s=args.deadline * 10,
        )
    active = [run.connection_id for run in results if run.status == "SUCCEEDED"]
    figures["checks"] = {
        "nothing left behind by the throttled runs": checks.leftover_problems(
            admin,
            active,
            stack.function_environment,
            only_prefix=throttle.ID_PREFIX,
            rolled_back=[run.connection_id for run in results if run.status != "SUCCEEDED"],
        )
        + throttle.cors_leftovers(admin("s3"), results, rule_id_for),
    }
    leftovers = sum(len(problems) for problems in figures["checks"].values())
    figures["budgets"] = [
        {
            "name": b.name,
            "limit": b.limit,
            "measured": b.measured,
            "passed": b.passed,
            "line": budgets.describe(b),
        }
        for b in budgets.throttle_budgets(figures, leftovers)
    ]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    machine = machine_info()
    print(heading("Machine"))
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print(
        f"  plan: {args.n} sequential onboardings and {args.n} floor runs (after one warm-up each), "
        f"{args.concurrency} concurrent onboardings, {args.cold_runs} cold starts per function",
        flush=True,
    )

    print("  measuring cold starts in fresh interpreters ...", flush=True)
    cold = coldstart.measure(ROOT / "template.yaml", runs=args.cold_runs)
    # Where a missed cold start spends its time: one `python -X importtime` run of each.
    missed = [
        name
        for name, ratio in cold_start_ratios(cold).items()
        if ratio is None or ratio > budgets.cold_start_limit(name)
    ]
    found = {target.logical_id: target for target in coldstart.targets(ROOT / "template.yaml")}
    profiles = {name: coldstart.import_profile(found[name]) for name in missed if name not in cold.errors}

    print("  starting the local stack, onboarding ...", flush=True)
    recorder = Recorder()
    recorder.install()
    try:
        stack = LocalStack(port=0)
        # The functions' Powertools loggers bind stdout when their modules load: give them a counting sink.
        with contextlib.redirect_stdout(LogSink(recorder)):
            stack.start()
        try:
            measured = exercise(stack, recorder, args)
            # What authorizing every function's calls against its role cost in those onboardings.
            roles = stack.roles
            role_checks = {"calls": roles.checked, "ms": round(roles.seconds * 1000, 1)} if roles else None
            modelled = propagation_phase(stack, args, measured.definition) if args.propagation_runs else None
            throttled = throttle_phase(stack, args) if args.throttle_runs else None
        finally:
            stack.stop()
        # On a stack of their own, with the Labellerr stand-in the onboarding phases run without.
        healthy = health_report.run_section(recorder, args)
    except (BenchError, health.HealthBenchError, TimeoutError) as error:
        print(f"\nthe benchmark could not run: {error}", file=sys.stderr)
        return 2
    finally:
        recorder.uninstall()

    figures = [
        run_figures(recorder, f"flow:{index:02d}", measured.function_key) for index in range(1, args.n + 1)
    ]
    floor_calls = [
        [call for call in recorder.calls_in(f"floor:{index:02d}") if call.access_key != ADMIN_ACCESS_KEY_ID]
        for index in range(1, args.n + 1)
    ]
    minimal_calls = [
        [call for call in recorder.calls_in(f"minimal:{index:02d}") if call.access_key != ADMIN_ACCESS_KEY_ID]
        for index in range(1, args.n + 1)
    ]
    report = build_report(
        config={"n": args.n, "concurrency": args.concurrency, "cold_runs": args.cold_runs},
        machine=machine,
        cold=cold,
        profiles=profiles,
        measured=measured,
        figures=figures,
        floor_calls=floor_calls,
        minimal_calls=minimal_calls,
        concurrent_figures=run_figures(recorder, "concurrent", measured.function_key),
    )
    if modelled is not None:
        report["propagation"] = modelled
        if not modelled["budget"]["passed"]:
            report["budgets_missed"].append(
                f"{modelled['budget']['name']}: {modelled['budget']['measured_s']} s "
                f"(limit {modelled['budget']['limit_s']} s)"
            )
    if throttled is not None:
        report["throttle"] = throttled
        report["budgets_missed"] += [b["line"] for b in throttled["budgets"] if not b["passed"]]
    if healthy is not None:
        report["health"] = healthy
        report["budgets_missed"] += healthy["budgets_missed"]
        report["checks"].update(healthy["checks"])
    report["role_checks"] = role_checks
    report["elapsed_s"] = round(time.monotonic() - began, 1)
    print_report(report)
    if role_checks and role_checks["calls"]:
        per_call = role_checks["ms"] * 1000 / role_checks["calls"]
        print(
            f"  role checks: {role_checks['calls']} calls of the functions authorized against their roles, "
            f"{role_checks['ms']} ms in all, {per_call:.0f} µs a call"
        )
    if modelled is not None:
        propagation.print_phase(modelled)
    if throttled is not None:
        throttle.print_phase(throttled)
        for budget in throttled["budgets"]:
            print(f"  {budget['line']}")
    if healthy is not None:
        health_report.print_section(healthy)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    failed_checks = [name for name, problems in report["checks"].items() if problems]
    print(f"\n  wrote {args.json}; the whole run took {report['elapsed_s']} s")
    if report["budgets_missed"] or failed_checks:
        print(
            f"  FAILED: {len(report['budgets_missed'])} budget(s) missed, "
            f"{len(failed_checks)} check(s) failed",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
