"""The health phases' pure parts: who made a call, the Map's steps, overlap, seeding plan, budgets.

No timing assertions. Run with `.venv/bin/pytest tests/bench`.
"""

from __future__ import annotations

import json
from typing import Any

from bench import budgets, cost, health_figures, health_seed
from bench.recorder import PREFLIGHT_SERVICE, UNSIGNED, Call, HandlerRun, identify
from provisioner_local.stack_common import DUMMY_ACCESS_KEY_ID


def _call(key: str, service: str, operation: str, tag: str = "", body: dict[str, Any] | None = None) -> Call:
    request = None if body is None else json.dumps(body)
    return Call("p", key, service, operation, 200, 0.0, 1.0, "t", request_body=request, origin_tag=tag)


def test_a_tagged_user_agent_is_the_calls_origin() -> None:
    environ = {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIAKEY/20260101/us-east-1/s3/aws4_request",
        "HTTP_USER_AGENT": "Boto3/1.40 md/Botocore#1.40 bench-origin/labellerr",
        "REQUEST_METHOD": "GET",
    }
    assert identify(environ)[:2] == ("AKIAKEY", "s3")
    assert health_figures.split_calls([], "labellerr") == {
        "aws": [],
        "dynamodb": [],
        "labellerr": [],
        "preflights": [],
    }


def test_calls_split_into_budgeted_registry_labellerr_and_preflights() -> None:
    calls = [
        _call(DUMMY_ACCESS_KEY_ID, "iam", "GetUser"),
        _call(DUMMY_ACCESS_KEY_ID, "dynamodb", "GetItem"),
        _call("AKIAISSUED", "s3", "ListObjectsV2"),
        _call("AKIAISSUED", "s3", "ListObjectsV2", tag="labellerr"),
        _call(UNSIGNED, PREFLIGHT_SERVICE, "OPTIONS"),
        _call("bench-admin", "s3", "PutObject"),
        _call(DUMMY_ACCESS_KEY_ID, "stepfunctions", "StartExecution"),
    ]
    split = health_figures.split_calls(calls, "labellerr")
    assert [c.operation for c in split["aws"]] == ["GetUser", "ListObjectsV2"]
    assert [c.operation for c in split["dynamodb"]] == ["GetItem"]
    assert [c.origin_tag for c in split["labellerr"]] == ["labellerr"]
    assert len(split["preflights"]) == 1


def test_steps_are_found_inside_a_map() -> None:
    definition = {
        "States": {
            "Select": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:SelectFn"},
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "States": {
                        "Check": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:CheckFn:$LATEST"}
                    }
                },
            },
            "Continue": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution"},
        }
    }
    assert health_figures.steps_of(definition) == {"SelectFn": "Select", "CheckFn": "Check"}


def test_overlap_counts_runs_in_flight_and_not_back_to_back_ones() -> None:
    runs = [HandlerRun("p", "f", start, 1000.0, True) for start in (0.0, 0.5, 1.0, 2.0, 2.5)]
    assert health_figures.max_overlap(iter(runs)) == 2
    assert health_figures.max_overlap([]) == 0


def test_registry_units_come_from_item_sizes_and_one_scan_of_the_table() -> None:
    key = {"connection_id": {"S": "a"}}
    calls = [
        _call(DUMMY_ACCESS_KEY_ID, "dynamodb", "GetItem", body={"TableName": "T", "Key": key}),
        _call(DUMMY_ACCESS_KEY_ID, "dynamodb", "UpdateItem", body={"TableName": "T", "Key": key}),
        _call(DUMMY_ACCESS_KEY_ID, "dynamodb", "Scan", body={"TableName": "T"}),
        _call(DUMMY_ACCESS_KEY_ID, "dynamodb", "Scan", body={"TableName": "T"}),
        _call(DUMMY_ACCESS_KEY_ID, "dynamodb", "UpdateItem", body={"TableName": "Leases", "Key": key}),
    ]
    writes, reads = health_figures.dynamodb_units(calls, "T", {"a": 5000, "b": 4000})
    assert writes == cost.write_units(5000) + 1
    assert reads == cost.read_units(5000, consistent=False) + cost.read_units(9000, consistent=False)


def test_the_seeding_plan_keeps_each_bucket_under_s3s_cors_rule_limit() -> None:
    planned = health_seed.plan(1000)
    assert len(planned) == len({cid for cid, _ in planned}) == 1000
    per_bucket: dict[int, int] = {}
    for _, bucket in planned:
        per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
    assert max(per_bucket.values()) <= health_seed.PER_BUCKET < 100
    templates = [cid for cid, _ in planned if cid.startswith(health_seed.template_id(0)[:-2])]
    assert len(templates) == len(per_bucket)


def test_health_budgets_fail_on_calls_cost_or_concurrency() -> None:
    checks = {"import": {"aws_calls_total_worst": 12}, "import_export": {"aws_calls_total_worst": 16}}
    sweep = {"connections": 200, "cost": {"usd": 0.0006}, "cap": 5, "max_concurrent_checks": 5}
    results = budgets.health_budgets(checks, sweep)
    assert [r.passed for r in results] == [True, False, False, True]
    assert "0.0006 USD" in budgets.describe(results[2])
