"""Time from request to a verified key under IAM's propagation delay: a model, labelled as one.

What is measured and what is modelled:
- measured: the Lambda work, as the local stack runs it (in-process handlers, moto): every step up to Issue
  access key, and each Verify access attempt, failed or not;
- modelled: IAM propagation, drawn per key and per attachment from `SPEC` (default
  `lognormal:median=6,p95=15`, the 3-15 s reported), and the waits between Verify access attempts, which are
  the ASL's real Retry (IntervalSeconds, BackoffRate, MaxDelaySeconds, MaxAttempts), skipped in real time
  and added to the emulated clock.

Per run: `to_verified` = request to the end of the Verify access attempt that passed; `ideal` = request to the
moment both the key and the attachment are effective (the drawn delays themselves); `overshoot` = the
difference. The budget: the median overshoot is at most 1.5 s.

`schedule_table` compares retry schedules on the same draws with the work as measured, which is how the ASL's
schedule was chosen; `reorder_saving` says what issuing the key right after Create user would save.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from provisioner_local.iam_propagation import DelayModel, parse_delay

DEFAULT_SPEC: Final = "lognormal:median=6,p95=15"
OVERSHOOT_BUDGET_S: Final = 1.5
RETRIED_ERROR: Final = "AccessNotYetEffective"


def retry_waits(retrier: Mapping[str, Any]) -> list[float]:
    """The waits before each retry, as Step Functions computes them."""
    interval = float(retrier.get("IntervalSeconds", 1))
    rate = float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", math.inf))
    return [min(interval * rate**n, cap) for n in range(int(retrier.get("MaxAttempts", 3)))]


def verify_retrier(definition: Mapping[str, Any]) -> dict[str, Any]:
    retriers = definition["States"]["Verify access"]["Retry"]
    return next(dict(r) for r in retriers if RETRIED_ERROR in r["ErrorEquals"])


@dataclass(frozen=True)
class RunTiming:
    """One onboarding under the model (seconds on the emulated clock, from the request)."""

    ideal_s: float
    to_verified_s: float
    attempts: int
    waited_s: float

    @property
    def overshoot_s(self) -> float:
        return self.to_verified_s - self.ideal_s


@dataclass(frozen=True)
class Work:
    """Measured Lambda work (seconds): request to the first Verify attempt, each failed attempt, the passing
    one, and the gap between AttachUserPolicy and CreateAccessKey (CORS and the key's own step)."""

    before_verify_s: float
    failed_attempt_s: float
    passing_attempt_s: float
    attach_to_key_s: float


def simulate(
    waits: Sequence[float], work: Work, key_delay: float, attach_delay: float, *, key_first: bool = False
) -> RunTiming | None:
    """One run of the model: attempts at the schedule's times; None when the window runs out.

    `key_first`: the key is created right after the user (before the policy, its attachment and CORS), so
    its delay runs while they do.
    """
    key_at = work.before_verify_s - (work.attach_to_key_s if key_first else 0.0)
    attach_at = work.before_verify_s - (0.0 if key_first else work.attach_to_key_s)
    effective = max(key_at + key_delay, attach_at + attach_delay)
    t = work.before_verify_s
    waited = 0.0
    for attempt in range(len(waits) + 1):
        if t >= effective:
            return RunTiming(effective, t + work.passing_attempt_s, attempt + 1, waited)
        t += work.failed_attempt_s
        if attempt < len(waits):
            t += waits[attempt]
            waited += waits[attempt]
    return None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def summary(timings: Sequence[RunTiming]) -> dict[str, float]:
    return {
        "runs": len(timings),
        "ideal_median_s": statistics.median(t.ideal_s for t in timings),
        "ideal_p95_s": percentile([t.ideal_s for t in timings], 0.95),
        "to_verified_median_s": statistics.median(t.to_verified_s for t in timings),
        "to_verified_p95_s": percentile([t.to_verified_s for t in timings], 0.95),
        "overshoot_median_s": statistics.median(t.overshoot_s for t in timings),
        "overshoot_p95_s": percentile([t.overshoot_s for t in timings], 0.95),
        "attempts_mean": statistics.fmean(t.attempts for t in timings),
    }


def draws(model: DelayModel, n: int, seed: int = 10) -> list[tuple[float, float]]:
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - draws of a model, not secrets
    return [(model.draw(rng), model.draw(rng)) for _ in range(n)]


CANDIDATES: Final[dict[str, dict[str, float]]] = {
    "2 s x1.3, 10 tries (before)": {"IntervalSeconds": 2, "BackoffRate": 1.3, "MaxAttempts": 10},
    "1 s x1.0, 110 tries (chosen)": {"IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 110},
    "1 s x1.05 cap 2 s, 66 tries": {
        "IntervalSeconds": 1,
        "BackoffRate": 1.05,
        "MaxDelaySeconds": 2,
        "MaxAttempts": 66,
    },
    "1 s x1.1 cap 3 s, 46 tries": {
        "IntervalSeconds": 1,
        "BackoffRate": 1.1,
        "MaxDelaySeconds": 3,
        "MaxAttempts": 46,
    },
    "1 s x1.2 cap 5 s, 30 tries": {
        "IntervalSeconds": 1,
        "BackoffRate": 1.2,
        "MaxDelaySeconds": 5,
        "MaxAttempts": 30,
    },
    "2 s x1.0, 60 tries": {"IntervalSeconds": 2, "BackoffRate": 1.0, "MaxAttempts": 60},
}


def schedule_table(work: Work, model: DelayModel, n: int = 20000) -> dict[str, dict[str, float]]:
    sample = draws(model, n)
    table: dict[str, dict[str, float]] = {}
    for name, retrier in CANDIDATES.items():
        waits = retry_waits(retrier)
        runs = [simulate(waits, work, k, a) for k, a in sample]
        done = [r for r in runs if r is not None]
        row = summary(done)
        row["window_s"] = sum(waits)
        row["max_attempts"] = len(waits) + 1
        row["runs_out"] = len(runs) - len(done)
        table[name] = row
    return table


def reorder_saving(waits: Sequence[float], work: Work, model: DelayModel, n: int = 20000) -> dict[str, float]:
    """Median and p95 time to verified with the steps as they are, and with the key issued first."""
    sample = draws(model, n, seed=11)
    as_is = [r for r in (simulate(waits, work, k, a) for k, a in sample) if r]
    first = [r for r in (simulate(waits, work, k, a, key_first=True) for k, a in sample) if r]
    return {
        "as_is_median_s": statistics.median(r.to_verified_s for r in as_is),
        "key_first_median_s": statistics.median(r.to_verified_s for r in first),
        "as_is_p95_s": percentile([r.to_verified_s for r in as_is], 0.95),
        "key_first_p95_s": percentile([r.to_verified_s for r in first], 0.95),
    }


def parse_spec(spec: str) -> DelayModel:
    return parse_delay(spec)


def _verify_attempts(events: Sequence[Mapping[str, Any]]) -> list[tuple[Any, Any, bool]]:
    """(scheduled, ended, passed) of each Verify access invocation, from an execution's history."""
    attempts: list[tuple[Any, Any, bool]] = []
    state = ""
    scheduled: Any = None
    for event in sorted(events, key=lambda e: int(e["id"])):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        if state != "Verify access":
            continue
        if kind == "LambdaFunctionScheduled":
            scheduled = event["timestamp"]
        elif kind in ("LambdaFunctionSucceeded", "LambdaFunctionFailed") and scheduled is not None:
            attempts.append((scheduled, event["timestamp"], kind == "LambdaFunctionSucceeded"))
            scheduled = None
    return attempts


def _exited(events: Sequence[Mapping[str, Any]], name: str) -> Any:
    return next(
        (
            e["timestamp"]
            for e in events
            if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == name
        ),
        None,
    )


@dataclass(frozen=True)
class MeasuredRun:
    timing: RunTiming
    work: Work


def measure_run(
    events: Sequence[Mapping[str, Any]],
    *,
    request_at: float,
    skipped_s: float,
    effective_at: float,
) -> MeasuredRun | None:
    """One real onboarding's timing on the emulated clock, and its Lambda work, from its history."""
    started = next(e["timestamp"] for e in events if e["type"] == "ExecutionStarted")
    attempts = _verify_attempts(events)
    if not attempts or not attempts[-1][2]:
        return None
    passing = attempts[-1]
    failed = [(end - begin).total_seconds() for begin, end, ok in attempts if not ok]
    attach, issued = _exited(events, "Attach policy"), _exited(events, "Issue access key")
    work = Work(
        before_verify_s=(attempts[0][0] - started).total_seconds(),
        failed_attempt_s=statistics.median(failed) if failed else math.nan,
        passing_attempt_s=(passing[1] - passing[0]).total_seconds(),
        attach_to_key_s=(issued - attach).total_seconds() if attach and issued else math.nan,
    )
    to_verified = (passing[1] - started).total_seconds() + skipped_s
    return MeasuredRun(RunTiming(effective_at - request_at, to_verified, len(attempts), skipped_s), work)


def median_work(runs: Sequence[MeasuredRun]) -> Work:
    def med(values: list[float]) -> float:
        finite = [v for v in values if not math.isnan(v)]
        return statistics.median(finite) if finite else 0.0

    return Work(
        before_verify_s=med([r.work.before_verify_s for r in runs]),
        failed_attempt_s=med([r.work.failed_attempt_s for r in runs]),
        passing_attempt_s=med([r.work.passing_attempt_s for r in runs]),
        attach_to_key_s=med([r.work.attach_to_key_s for r in runs]),
    )


def run_phase(
    stack: Any,
    onboard_one: Any,
    history_of: Any,
    seed: Any,
    *,
    runs: int,
    spec: str = DEFAULT_SPEC,
    definition: Mapping[str, Any],
) -> dict[str, Any]:
    """`runs` sequential onboardings under the propagation model on the running local stack, then the model
    of the retry schedules with the work as measured. `onboard_one(connection_id)` runs one onboarding and
    returns its Execution; `history_of(arn)` its events; `seed(bucket)` makes its bucket."""
    from provisioner_local.iam_propagation import Propagation

    model = parse_spec(spec)
    measured: list[MeasuredRun] = []
    failed: list[str] = []
    for index in range(1, runs + 1):
        connection_id = f"bench-prop-{index:02d}"
        seed(connection_id)
        propagation = Propagation(model, rng=random.Random(1000 + index))  # noqa: S311  # nosec B311
        stack.propagation = propagation
        try:
            request_at = propagation.clock.now()
            execution = onboard_one(connection_id)
            skipped = propagation.clock.skipped
        finally:
            stack.propagation = None
        if execution.status != "SUCCEEDED":
            failed.append(f"{connection_id}: {execution.status} {execution.error}")
            continue
        effective_at = max(at for _, _, at in propagation.drawn)
        run = measure_run(
            history_of(execution.execution_arn),
            request_at=request_at,
            skipped_s=skipped,
            effective_at=effective_at,
        )
        if run is None:
            failed.append(f"{connection_id}: no passing Verify access attempt in its history")
        else:
            measured.append(run)
    waits = retry_waits(verify_retrier(definition))
    work = median_work(measured) if measured else Work(0.0, 0.0, 0.0, 0.0)
    real = summary([r.timing for r in measured]) if measured else {}
    return {
        "spec": spec,
        "model": model.describe(),
        "schedule": {"waits_s": waits[:5], "attempts": len(waits) + 1, "window_s": sum(waits)},
        "runs": real,
        "failed_runs": failed,
        "work_s": {
            "request_to_first_verify": work.before_verify_s,
            "failed_verify_attempt": work.failed_attempt_s,
            "passing_verify_attempt": work.passing_attempt_s,
            "attach_to_key": work.attach_to_key_s,
        },
        "schedules_modelled": schedule_table(work, model),
        "key_issued_first": reorder_saving(waits, work, model),
        "budget": {
            "name": "request to verified key under the propagation model: median overshoot of the delay",
            "limit_s": OVERSHOOT_BUDGET_S,
            "measured_s": real.get("overshoot_median_s"),
            "passed": bool(real) and not failed and real["overshoot_median_s"] <= OVERSHOOT_BUDGET_S,
        },
    }


def print_phase(figures: Mapping[str, Any]) -> None:
    runs, work = figures["runs"], figures["work_s"]
    print(f"\n== Time to a verified key under IAM propagation (a model: {figures['model']}) ==")
    schedule = figures["schedule"]
    print(
        f"  ASL retry: waits {', '.join(f'{w:g}' for w in schedule['waits_s'])} ... s, "
        f"{schedule['attempts']} attempts, {schedule['window_s']:g} s of waits"
    )
    if runs:
        print(
            f"  {runs['runs']:g} onboardings on the local stack; waits skipped, added to the emulated clock:"
        )
        for label, key in (
            ("ideal (drawn delays)", "ideal"),
            ("request to verified", "to_verified"),
            ("overshoot", "overshoot"),
        ):
            print(f"    {label:21s} median {runs[key + '_median_s']:.2f} s, p95 {runs[key + '_p95_s']:.2f} s")
        print(f"    budget: median overshoot at most {figures['budget']['limit_s']:g} s")
        print(f"    Verify access attempts per onboarding: {runs['attempts_mean']:.1f} on average")
    print(
        f"  measured Lambda work (s, median): request to first Verify {work['request_to_first_verify']:.3f}, "
        f"failed attempt {work['failed_verify_attempt']:.3f}, "
        f"passing attempt {work['passing_verify_attempt']:.3f}, attach to key {work['attach_to_key']:.3f}"
    )
    print("  schedules modelled on 20,000 draws with that work (overshoot median / p95, attempts mean):")
    for name, row in figures["schedules_modelled"].items():
        print(
            f"    {name:32s} {row['overshoot_median_s']:.2f} / {row['overshoot_p95_s']:.2f} s, "
            f"{row['attempts_mean']:.1f}, window {row['window_s']:.0f} s, ran out {row['runs_out']:g}"
        )
    first = figures["key_issued_first"]
    print(
        f"  key issued right after Create user instead: median {first['as_is_median_s']:.2f} -> "
        f"{first['key_first_median_s']:.2f} s, "
        f"p95 {first['as_is_p95_s']:.2f} -> {first['key_first_p95_s']:.2f} s"
    )
    for problem in figures["failed_runs"]:
        print(f"  FAILED run: {problem}")
