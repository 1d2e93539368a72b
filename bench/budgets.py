"""The budgets of the issue "Benchmark": fixed limits, checked on every run; a miss fails `make bench`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# Happy path, `import` access: IAM, S3 and Secrets Manager calls together, per onboarding.
# Plus Validate request's read-only look at the bucket (issue 10): GetBucketRequestPayment, ListObjectsV2,
# GetBucketEncryption, GetBucketPolicy and one HeadObject per sampled object; a customer KMS key adds
# DescribeKey and GetKeyPolicy (KMS, not budgeted). Budgeted so a new call cannot slip in unseen.
INSPECTION_READS: Final = 4 + 3
# Apply CORS reads its own write back (S3's bucket configuration is eventually consistent: the next holder of
# the bucket's lease must not read an older one, provisioner_core.cors.write_rules): one GetBucketCors more.
CORS_READ_BACK: Final = 1
CALLS_BUDGET: Final = 12 + INSPECTION_READS + CORS_READ_BACK
BUDGETED_SERVICES: Final = ("iam", "s3", "secretsmanager")
# Median onboarding through the state machine over the median plain boto3 script doing the same calls: the
# floor makes every AWS call the flow makes (checked at the emulator), without orchestration.
FLOW_OVER_FLOOR_BUDGET: Final = 2.0
# Cold start (import the handler module + its first AWS client) over `import boto3; boto3.client("s3")`.
STEP_COLD_START_BUDGET: Final = 1.5
ENTRY_COLD_START_BUDGET: Final = 2.0
# The functions that validate input with pydantic get the larger allowance.
ENTRY_FUNCTIONS: Final = frozenset({"ValidateRequestFunction", "PlanOnboardingFunction", "ApiFunction"})


@dataclass(frozen=True)
class BudgetResult:
    name: str
    limit: float
    measured: float | None
    unit: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.measured is not None and self.measured <= self.limit


def cold_start_limit(logical_id: str) -> float:
    return ENTRY_COLD_START_BUDGET if logical_id in ENTRY_FUNCTIONS else STEP_COLD_START_BUDGET


def budgeted_calls(calls_by_service: Mapping[str, float]) -> float:
    return sum(calls_by_service.get(service, 0.0) for service in BUDGETED_SERVICES)


def evaluate(
    *,
    calls_by_service: Mapping[str, float] | None,
    flow_over_floor: float | None,
    cold_start_ratios: Mapping[str, float | None],
    flow_over_floor_detail: str = "",
) -> list[BudgetResult]:
    """Every budget, in a fixed order; a figure that could not be measured (None) misses its budget."""
    others = ""
    if calls_by_service is not None:
        others = ", ".join(
            f"{service} {count:g}"
            for service, count in sorted(calls_by_service.items())
            if service not in BUDGETED_SERVICES
        )
    results = [
        BudgetResult(
            name="IAM + S3 + Secrets Manager calls per onboarding (import)",
            limit=CALLS_BUDGET,
            measured=None if calls_by_service is None else budgeted_calls(calls_by_service),
            unit="calls",
            detail=f"beside them: {others}" if others else "",
        ),
        BudgetResult(
            name="flow / floor (median / median)",
            limit=FLOW_OVER_FLOOR_BUDGET,
            measured=flow_over_floor,
            unit="x",
            detail=flow_over_floor_detail,
        ),
    ]
    for logical_id, measured in cold_start_ratios.items():
        results.append(
            BudgetResult(
                name=f"cold start {logical_id} / baseline",
                limit=cold_start_limit(logical_id),
                measured=measured,
                unit="x",
                detail="" if measured is not None else "not measured",
            )
        )
    return results


def missed(results: Iterable[BudgetResult]) -> list[BudgetResult]:
    return [result for result in results if not result.passed]


def describe(result: BudgetResult) -> str:
    # Money per connection is a fraction of a cent: four significant figures, not two decimals.
    digits = ".2f" if result.limit >= 0.01 or result.limit == 0 else ".4g"
    measured = "not measured" if result.measured is None else f"{result.measured:{digits}} {result.unit}"
    verdict = "pass" if result.passed else "MISSED"
    line = f"{verdict}: {result.name}: {measured} (budget at most {result.limit:g} {result.unit})"
    return f"{line}; {result.detail}" if result.detail else line


def summary(results: Sequence[BudgetResult]) -> str:
    failed = missed(results)
    return f"{len(results) - len(failed)} of {len(results)} budgets met"


# Issue 17, many at once under IAM throttling (bench.throttle): every run ACTIVE, none rolled back, nothing
# left behind (users, policies, secrets, registry records, CORS rules of other runs or of none).
THROTTLE_RUNS: Final = 100


def throttle_budgets(figures: Mapping[str, Any], leftovers: int) -> list[BudgetResult]:
    runs = int(figures["runs"])
    return [
        BudgetResult(
            name=f"runs ACTIVE under IAM throttling, of {runs}",
            limit=0,
            measured=float(runs - int(figures["active"])),
            unit="not ACTIVE",
        ),
        BudgetResult(
            name="runs rolled back under IAM throttling",
            limit=0,
            measured=float(figures["rolled_back"]),
            unit="runs",
            detail=f"{figures['rolled_back_by_throttling']} of them because of Throttling",
        ),
        BudgetResult(
            name="left behind after the throttled runs", limit=0, measured=float(leftovers), unit="problems"
        ),
    ]


# Issue 18, health checks (bench.health): one check of a healthy connection makes at most 15 AWS calls beside
# Labellerr's own test (the registry record and the bucket's lease items in DynamoDB are reported apart),
# and a sweep costs under $0.0005 a connection at Standard-workflow and Lambda prices (bench/prices.py).
HEALTH_CHECK_CALLS: Final = 15
HEALTH_SWEEP_USD_PER_CONNECTION: Final = 0.0005


def health_budgets(checks: Mapping[str, Any], sweep: Mapping[str, Any] | None) -> list[BudgetResult]:
    results = [
        BudgetResult(
            name=f"AWS calls of one health check ({access}, registered in Labellerr)",
            limit=HEALTH_CHECK_CALLS,
            measured=float(figures["aws_calls_total_worst"]),
            unit="calls",
            detail="beside Labellerr's test, the registry and lease items, the unsigned preflights",
        )
        for access, figures in checks.items()
    ]
    if sweep is not None:
        results += [
            BudgetResult(
                name=f"cost per connection of a sweep of {sweep['connections']}",
                limit=HEALTH_SWEEP_USD_PER_CONNECTION,
                measured=float(sweep["cost"]["usd"]),
                unit="USD",
            ),
            BudgetResult(
                name="most health checks at once in the sweep",
                limit=float(sweep["cap"]),
                measured=float(sweep["max_concurrent_checks"]),
                unit="checks",
                detail=f"cap HealthCheckConcurrency = {sweep['cap']}",
            ),
        ]
    return results
