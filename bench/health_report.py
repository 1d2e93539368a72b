"""The health phases in the bench's report, and on their own:

    python -m bench.health_report [--checks 5] [--sweep 1000] [--json bench/results/health.json]

runs only the health phases (on a stack of their own, as `make bench` runs them) and prints their section.
Exit status as bench.run's: 1 when a budget or check fails, 2 when the phases cannot run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from bench import health
from bench.health_figures import extrapolate
from bench.recorder import Recorder
from bench.report import heading, ms, table, usd, usd_short

DEFAULT_CHECKS: Final = 5
# A sweep of 1,000 takes about 5 minutes on 2 shared cores (about 0.3 s a connection): 200 are measured
# and the rest extrapolated, labelled so, to keep `make bench` minutes long; `--health-sweep 1000` measures
# it all.
DEFAULT_SWEEP: Final = 200
EXTRAPOLATED_TO: Final = (1000, 5000)


def _calls(counts: Mapping[str, float]) -> str:
    by_service: dict[str, float] = {}
    for key, count in counts.items():
        service = key.split(":", 1)[0]
        by_service[service] = by_service.get(service, 0.0) + count
    return ", ".join(f"{service} {count:g}" for service, count in sorted(by_service.items())) or "none"


def _ops(counts: Mapping[str, float]) -> str:
    return ", ".join(f"{key.split(':', 1)[1]} {count:g}" for key, count in counts.items()) or "none"


def print_section(section: Mapping[str, Any]) -> None:
    for access, figures in section["check"].items():
        print(heading(f"One health check of a healthy {access} connection, registered in Labellerr"))
        print(
            f"  {figures['runs']} checks after a warm-up, each figure the median; verdict {figures['health']}"
        )
        total = sum(figures["aws_calls"].values())
        print(f"  AWS calls of the check's functions: {total:g} ({_calls(figures['aws_calls'])})")
        for key, count in figures["aws_calls"].items():
            print(f"      {key:<42} {count:g}")
        print(f"  registry and lease items (DynamoDB): {_ops(figures['dynamodb_calls'])}")
        print(f"  Labellerr's test, S3 calls with the key: {_ops(figures['labellerr_test_calls'])}")
        print(f"  unsigned CORS preflights (no SDK call, unbilled): {figures['preflights']:g}")
        print(
            table(
                ["step", "invocations", "handler ms"],
                [[step, f"{row['invocations']:g}", ms(row["ms"])] for step, row in figures["steps"].items()],
            )
        )
        check_cost = figures["cost"]
        print(
            f"  state transitions {figures['transitions']:g}; Lambda {check_cost['lambda_gb_s']:.4f} GB-s; "
            f"cost per check {usd(check_cost['usd'])} (prices of {check_cost['prices_quoted_on']})"
        )
    sweep = section["sweep"]
    if sweep is not None:
        print_sweep(sweep)
    print(heading("Health budgets"))
    for budget in section["budgets"]:
        print(f"  {budget['line']}")
    for name, problems in section["checks"].items():
        for problem in problems[:10]:
            print(f"  CHECK {name}: {problem}")


def print_sweep(sweep: Mapping[str, Any]) -> None:
    n = sweep["connections"]
    print(heading(f"A sweep of {n} ACTIVE connections (HealthCheckConcurrency {sweep['cap']})"))
    print(
        f"  seeded in {sweep['seeding_s']} s (a few onboarded, the rest cloned from them; not measured); "
        f"{sweep['executions']} executions (a page of 250 each)"
    )
    print(
        f"  wall time {sweep['wall_s']} s ({sweep['seconds_per_connection'] * 1000:.0f} ms a connection); "
        f"at most {sweep['max_concurrent_checks']} checks at once (cap {sweep['cap']}, "
        f"{sweep['environments_per_function']} Lambda environments a function); verdicts {sweep['health']}; "
        f"checks that could not run {sweep.get('check_errors', {})}"
    )
    if n < max(EXTRAPOLATED_TO):
        guesses = ", ".join(
            f"{size:,}: about {extrapolate(sweep, size)} s" for size in EXTRAPOLATED_TO if size > n
        )
        print(f"  EXTRAPOLATED linearly from {n} (not measured): {guesses}")
    per = sweep["cost"]["usage"]
    print(
        f"  per connection: {sweep['aws_calls_per_connection_total']:.2f} AWS calls "
        f"({_calls(sweep['aws_calls_per_connection'])}), "
        f"{sum(sweep['dynamodb_calls_per_connection'].values()):.2f} DynamoDB, "
        f"{sum(sweep['labellerr_test_calls_per_connection'].values()):.2f} Labellerr-test S3; "
        f"{sweep['transitions_per_connection']:.2f} transitions; "
        f"{sum(f['invocations'] for f in per['functions']):.2f} invocations; "
        f"{sweep['cost']['lambda_gb_s']:.4f} GB-s"
    )
    print(
        f"  cost per connection {usd(sweep['cost']['usd'])}; "
        f"{usd_short(sweep['cost']['usd'] * 5000)} a sweep of 5,000"
    )


def markdown(section: Mapping[str, Any]) -> str:
    """The docs' table, as docs/performance.md's "Health checks" carries it."""
    rows = []
    for access, figures in section["check"].items():
        rows.append(
            [
                f"One check, `{access}` (registered)",
                f"{sum(figures['aws_calls'].values()):g} ({_calls(figures['aws_calls'])}) + Labellerr's test "
                f"{sum(figures['labellerr_test_calls'].values()):g} S3; DynamoDB "
                f"{sum(figures['dynamodb_calls'].values()):g}",
                f"{figures['transitions']:g}",
                f"{figures['cost']['lambda_gb_s']:.4f}",
                usd_short(figures["cost"]["usd"]),
            ]
        )
    sweep = section["sweep"]
    if sweep is not None:
        rows.append(
            [
                f"Sweep of {sweep['connections']:,}, per connection",
                f"{sweep['aws_calls_per_connection_total']:.2f} + Labellerr's test "
                f"{sum(sweep['labellerr_test_calls_per_connection'].values()):.2f}; DynamoDB "
                f"{sum(sweep['dynamodb_calls_per_connection'].values()):.2f}",
                f"{sweep['transitions_per_connection']:.2f}",
                f"{sweep['cost']['lambda_gb_s']:.4f}",
                usd_short(sweep["cost"]["usd"]),
            ]
        )
    lines = ["| | AWS calls | Transitions | Lambda GB-s | Cost |", "|---|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--health-checks", type=int, default=DEFAULT_CHECKS,
        help=f"measured checks per access (default {DEFAULT_CHECKS}; 0 skips the health phases)",
    )  # fmt: skip
    parser.add_argument(
        "--health-sweep", type=int, default=DEFAULT_SWEEP,
        help=f"connections the sweep checks (default {DEFAULT_SWEEP}; 0 skips the sweep)",
    )  # fmt: skip


def run_section(recorder: Recorder, args: argparse.Namespace) -> dict[str, Any] | None:
    if args.health_checks <= 0:
        return None
    print(
        f"  health: {args.health_checks} checks per access, a sweep of {args.health_sweep} connections ...",
        flush=True,
    )
    return health.run(recorder, check_runs=args.health_checks, sweep_connections=args.health_sweep)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.health_report", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--json", type=Path, default=Path("bench/results/health.json"))
    args = parser.parse_args(argv)
    began = time.monotonic()
    recorder = Recorder()
    recorder.install()
    try:
        section = run_section(recorder, args)
    except (health.HealthBenchError, TimeoutError) as error:
        print(f"\nthe health phases could not run: {error}", file=sys.stderr)
        return 2
    finally:
        recorder.uninstall()
    if section is None:
        return 0
    print_section(section)
    print("\n" + markdown(section))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(section, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\n  wrote {args.json}; {time.monotonic() - began:.0f} s")
    failed = section["budgets_missed"] or any(section["checks"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
