"""Many onboardings at once under IAM's throttling (provisioner_local.iam_throttle): a model, labelled so.

What is measured and what is modelled:
- modelled: IAM's per-account token buckets (`SPEC`, default `mutating=5,50;read=20,100`). IAM publishes no
  rates (AWS Support in hashicorp/terraform-provider-aws#44853: "the number of tokens ... and the refill
  rate depends on the API"); the default borrows EC2's documented per-account defaults (mutating actions: a
  bucket of 50 refilled at 5 per second; non-mutating: 100 at 20 per second), the only published figures
  of an AWS control plane's token buckets;
- measured: every onboarding's real run on the local stack, with real waits (the stack's fast waits are off
  for the phase: a Retry's interval must give the bucket the time it gives it in AWS), the Throttling
  answers IAM gave, the SDK's retries of IAM calls (botocore's `amz-sdk-request: attempt=N`, N > 1), and
  the state machine's retries of Lambda tasks (from each execution's history).

Many runs share one bucket and prefix (`SHARED_SHARE` of them), the rest spread over a few more. The phase's
budget (bench.budgets.throttle_budgets): every run ACTIVE, none rolled back, nothing left behind.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from bench.environments import concurrent_environments

DEFAULT_SPEC: Final = "mutating=5,50;read=20,100"
ID_PREFIX: Final = "bench-thr-"
SHARED_BUCKET: Final = "bench-thr-shared"
# Half the runs onboard one bucket and prefix; the other half ten to a bucket.
SHARED_SHARE: Final = 0.5
PER_OTHER_BUCKET: Final = 10
STARTERS: Final = 8


def plan_runs(runs: int) -> list[tuple[str, str]]:
    """(connection id, bucket) of each run: SHARED_SHARE of them on SHARED_BUCKET, the rest ten a bucket."""
    shared = round(runs * SHARED_SHARE)
    plan = []
    for index in range(1, runs + 1):
        bucket = (
            SHARED_BUCKET if index <= shared else f"{ID_PREFIX}b{(index - shared - 1) // PER_OTHER_BUCKET}"
        )
        plan.append((f"{ID_PREFIX}{index:03d}", bucket))
    return plan


@dataclass(frozen=True)
class HistoryFacts:
    """What one execution's history says about retries and rollback."""

    # Lambda task attempts beyond the first of each state entered: the state machine's retries.
    asl_retries: int
    # Error names of the failed Lambda attempts, retried or caught.
    failed_attempts: tuple[str, ...]
    # Whether any failed attempt's cause names Throttling (past the SDK's retries).
    throttled_past_sdk: bool
    rolled_back: bool


def history_facts(events: Sequence[Mapping[str, Any]]) -> HistoryFacts:
    ordered = sorted(events, key=lambda event: int(event["id"]))
    retries = 0
    scheduled_in_state = 0
    failed: list[str] = []
    throttled = False
    rolled_back = False
    for event in ordered:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            scheduled_in_state = 0
            rolled_back = rolled_back or event["stateEnteredEventDetails"]["name"] == "Rollback"
        elif kind == "LambdaFunctionScheduled":
            scheduled_in_state += 1
            retries += scheduled_in_state > 1
        elif kind == "LambdaFunctionFailed":
            details = event.get("lambdaFunctionFailedEventDetails", {})
            failed.append(str(details.get("error", "")))
            throttled = throttled or "Throttling" in str(details.get("cause", ""))
    return HistoryFacts(retries, tuple(failed), throttled, rolled_back)


@dataclass(frozen=True)
class ThrottleRun:
    connection_id: str
    bucket: str
    status: str
    seconds: float
    facts: HistoryFacts
    error: str | None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


def summarize(
    runs: Sequence[ThrottleRun], counts: Mapping[str, Mapping[str, int]], wall_s: float
) -> dict[str, Any]:
    succeeded = [run for run in runs if run.status == "SUCCEEDED"]
    failed = [run for run in runs if run.status != "SUCCEEDED"]
    errors = Counter(error for run in runs for error in run.facts.failed_attempts)
    return {
        "runs": len(runs),
        "active": len(succeeded),
        "time_to_all_final_s": round(wall_s, 2),
        "run_s_median": round(statistics.median(r.seconds for r in runs), 2) if runs else None,
        "run_s_p95": round(percentile([r.seconds for r in runs], 0.95), 2),
        "iam_calls_admitted": sum(counts["admitted"].values()),
        "throttling_answers": sum(counts["throttled"].values()),
        "throttling_by_action": dict(sorted(counts["throttled"].items())),
        "sdk_retries_of_iam_calls": sum(counts["sdk_retries"].values()),
        "asl_retries": sum(run.facts.asl_retries for run in runs),
        "failed_lambda_attempts": dict(sorted(errors.items())),
        "rolled_back": len([run for run in runs if run.facts.rolled_back]),
        "rolled_back_by_throttling": len(
            [r for r in runs if r.facts.rolled_back and r.facts.throttled_past_sdk]
        ),
        "failed_runs": [f"{run.connection_id}: {run.status} {run.error or ''}".rstrip() for run in failed],
    }


def cors_leftovers(s3: Any, runs: Sequence[ThrottleRun], rule_id_for: Callable[[str], str]) -> list[str]:
    """Each bucket holds exactly the CORS rules of its ACTIVE connections (and no other run's)."""
    problems = []
    for bucket in sorted({run.bucket for run in runs}):
        expected = {
            rule_id_for(r.connection_id) for r in runs if r.bucket == bucket and r.status == "SUCCEEDED"
        }
        try:
            rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        except Exception as error:  # NoSuchCORSConfiguration: no rule at all
            if expected:
                problems.append(f"{bucket}: no CORS configuration ({type(error).__name__})")
            continue
        found = [str(rule.get("ID", "")) for rule in rules]
        if sorted(found) != sorted(expected):
            missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
            duplicated = sorted({rule for rule in found if found.count(rule) > 1})
            problems.append(
                f"{bucket}: CORS rules missing {missing[:5]}, extra {extra[:5]}, twice {duplicated[:5]}"
            )
    return problems


def run_phase(
    stack: Any,
    start: Callable[[str, str], str],
    wait: Callable[[Sequence[str], float], tuple[dict[str, Any], dict[str, float]]],
    history_of: Callable[[str], list[dict[str, Any]]],
    *,
    runs: int,
    spec: str = DEFAULT_SPEC,
    deadline_s: float = 600.0,
    environments: int | None = None,
) -> tuple[list[ThrottleRun], dict[str, Any]]:
    """`runs` onboardings started at once under the throttle model, with real waits, awaited; then the model
    is taken off again (the benchmark's own checks are not the load measured). `start(connection_id, bucket)`
    returns an execution ARN, `wait(arns, deadline_s)` their descriptions and when each was seen final.
    `environments`: concurrent invocations per function (bench.environments; default `runs`, as Lambda's
    unreserved concurrency would give them; 1 is the local stack's own one environment per function)."""
    from provisioner_local.iam_throttle import IamThrottle

    plan = plan_runs(runs)
    throttle = IamThrottle.from_spec(spec)
    fast_waits = stack.fast_waits
    stack.fast_waits = False
    stack.iam_throttle = throttle
    try:
        with concurrent_environments(stack, environments or runs):
            began = time.perf_counter()
            with ThreadPoolExecutor(max_workers=STARTERS) as pool:
                arns = list(pool.map(lambda planned: start(*planned), plan))
            final, seen_at = wait(arns, deadline_s)
            wall_s = max(seen_at.values()) - began
    finally:
        stack.iam_throttle = None
        stack.fast_waits = fast_waits
    results = [
        ThrottleRun(
            connection_id=cid,
            bucket=bucket,
            status=str(final[arn]["status"]),
            seconds=seen_at[arn] - began,
            facts=history_facts(history_of(arn)),
            error=final[arn].get("error"),
        )
        for (cid, bucket), arn in zip(plan, arns, strict=True)
    ]
    figures = summarize(results, throttle.counts(), wall_s)
    figures["spec"] = spec
    figures["environments_per_function"] = environments or runs
    figures["model"] = throttle.describe()
    return results, figures


def print_phase(figures: Mapping[str, Any]) -> None:
    print(f"\n== {figures['runs']} onboardings at once under IAM throttling (a model: {figures['model']}) ==")
    print(
        f"  ACTIVE {figures['active']} of {figures['runs']}; "
        f"all final after {figures['time_to_all_final_s']} s "
        f"(a run: median {figures['run_s_median']} s, p95 {figures['run_s_p95']} s)"
    )
    print(
        f"  IAM: {figures['iam_calls_admitted']} calls served, {figures['throttling_answers']} Throttling "
        f"answers {figures['throttling_by_action']}, {figures['sdk_retries_of_iam_calls']} SDK retries"
    )
    print(
        f"  state machine: {figures['asl_retries']} task retries, "
        f"failed attempts {figures['failed_lambda_attempts']}, "
        f"{figures['rolled_back']} rolled back ({figures['rolled_back_by_throttling']} because of throttling)"
    )
    for problem in figures["failed_runs"][:10]:
        print(f"  FAILED run: {problem}")
    for name, problems in figures.get("checks", {}).items():
        for problem in problems[:10]:
            print(f"  CHECK {name}: {problem}")
