"""provisioner-local plan: the plan door of the CLI, through a fresh local stack's POST /connections/plan."""

from __future__ import annotations

import json

from provisioner_local.cli import main


def test_plan_of_the_demo_bucket_says_it_would_succeed_and_changes_nothing(capsys):
    code = main(["plan", "--no-labellerr", "--connection-id", "demo-plan-1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Plan for connection demo-plan-1" in out
    assert "would succeed" in out
    assert "  policy    arn:aws:iam::123456789012:policy/labellerr/labellerr-demo-plan-1" in out
    assert out.count("Nothing was created or changed.") == 1
    plan = json.loads(out.split("The plan:\n", 1)[1])
    assert plan["created"] == []
    assert plan["connection"]["connection_id"] == "demo-plan-1"
    assert plan["policy"]["document"]["Statement"]


def test_plan_reports_a_bucket_it_does_not_make(capsys):
    code = main(
        ["plan", "--no-labellerr", "--bucket", "acme-not-there", "--connection-id", "gone-1", "--json"]
    )
    out = capsys.readouterr().out
    assert code == 1
    plan = json.loads(out)
    assert plan["failed_checks"] == ["bucket_exists"]
    assert plan["bucket"] == {"exists": False, "region": None}


def test_plan_of_an_invalid_request_prints_the_apis_400_and_exits_2(capsys):
    code = main(["plan", "--no-labellerr", "--bucket", "My_Bucket", "--prefix", "../etc/"])
    out = capsys.readouterr().out
    assert code == 2
    body = json.loads(out.split("\n", 1)[1])
    assert {e["field"] for e in body["errors"]} == {"bucket", "prefix"}


def test_plan_against_a_running_stack_needs_a_bucket(capsys):
    assert main(["plan", "--api-url", "http://127.0.0.1:1"]) == 2
    assert "needs --bucket" in capsys.readouterr().err
