"""The many-at-once phase's pure parts (bench.throttle) and its budgets (bench.budgets)."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import budgets
from bench.throttle import (
    ID_PREFIX,
    SHARED_BUCKET,
    HistoryFacts,
    ThrottleRun,
    cors_leftovers,
    history_facts,
    plan_runs,
    summarize,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _event(event_id: int, kind: str, **details: object) -> dict[str, object]:
    return {"id": event_id, "type": kind, "timestamp": NOW, **details}


def _entered(event_id: int, name: str) -> dict[str, object]:
    return _event(event_id, "TaskStateEntered", stateEnteredEventDetails={"name": name})


def test_half_the_runs_share_one_bucket_the_rest_ten_a_bucket():
    plan = plan_runs(100)
    assert len({cid for cid, _ in plan}) == 100
    assert all(cid.startswith(ID_PREFIX) for cid, _ in plan)
    buckets = [bucket for _, bucket in plan]
    assert buckets.count(SHARED_BUCKET) == 50
    others = {bucket for bucket in buckets if bucket != SHARED_BUCKET}
    assert len(others) == 5
    assert all(buckets.count(bucket) == 10 for bucket in others)


def test_a_history_tells_retries_throttling_and_rollback():
    throttled = {"error": "AwsCallFailed", "cause": '{"error": "Throttling"}'}
    events = [
        _entered(1, "Create user"),
        _event(2, "LambdaFunctionScheduled"),
        _event(3, "LambdaFunctionFailed", lambdaFunctionFailedEventDetails=throttled),
        _event(4, "LambdaFunctionScheduled"),
        _event(5, "LambdaFunctionSucceeded"),
        _entered(6, "Create policy"),
        _event(7, "LambdaFunctionScheduled"),
        _event(8, "LambdaFunctionSucceeded"),
    ]
    assert history_facts(events) == HistoryFacts(1, ("AwsCallFailed",), True, False)
    events += [_entered(9, "Rollback"), _event(10, "LambdaFunctionScheduled")]
    assert history_facts(events).rolled_back


def _run(cid: str, bucket: str, status: str = "SUCCEEDED", *, rolled_back: bool = False) -> ThrottleRun:
    facts = HistoryFacts(2, ("AwsCallFailed",), rolled_back, rolled_back)
    return ThrottleRun(cid, bucket, status, 3.0, facts, None if status == "SUCCEEDED" else "X.Throttling")


def test_the_summary_counts_throttles_retries_and_rollbacks():
    runs = [_run("a", "b1"), _run("b", "b1", "FAILED", rolled_back=True)]
    counts = {"admitted": {"CreateUser": 8}, "throttled": {"CreateUser": 5}, "sdk_retries": {"CreateUser": 4}}
    figures = summarize(runs, counts, 12.5)
    assert figures["active"] == 1
    assert figures["throttling_answers"] == 5
    assert figures["sdk_retries_of_iam_calls"] == 4
    assert figures["asl_retries"] == 4
    assert figures["rolled_back_by_throttling"] == 1
    assert figures["failed_runs"] == ["b: FAILED X.Throttling"]
    missed = budgets.missed(budgets.throttle_budgets(figures, leftovers=0))
    assert [result.name for result in missed] == [
        "runs ACTIVE under IAM throttling, of 2",
        "runs rolled back under IAM throttling",
    ]
    figures.update(active=2, rolled_back=0)
    assert not budgets.missed(budgets.throttle_budgets(figures, leftovers=0))
    assert budgets.missed(budgets.throttle_budgets(figures, leftovers=1))


class FakeS3:
    def __init__(self, rules: dict[str, list[str]]) -> None:
        self.rules = rules

    def get_bucket_cors(self, Bucket: str) -> dict[str, object]:  # noqa: N803 - boto3's name
        if Bucket not in self.rules:
            raise LookupError("NoSuchCORSConfiguration")
        return {"CORSRules": [{"ID": rule} for rule in self.rules[Bucket]]}


def test_a_bucket_keeps_exactly_the_rules_of_its_active_runs():
    runs = [_run("a", "b1"), _run("b", "b1"), _run("c", "b2", "FAILED", rolled_back=True)]
    assert cors_leftovers(FakeS3({"b1": ["r-a", "r-b"]}), runs, lambda cid: f"r-{cid}") == []
    problems = cors_leftovers(FakeS3({"b1": ["r-a"], "b2": ["r-c"]}), runs, lambda cid: f"r-{cid}")
    assert len(problems) == 2
    assert "missing ['r-b']" in problems[0]
    assert "extra ['r-c']" in problems[1]
