"""`provisioner check`, `repair` and `list --health` against a scripted API: the request each sends, what
--wait prints (the verdict and one line per finding) and the exit codes: 0 HEALTHY, 1 DEGRADED, BROKEN, a
failed run or the API's refusal, 2 bad input, 3 no answer."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioner_cli import cli, commands_health
from provisioner_cli.signing import ApiUnreachable
from provisioner_cli.stack import Target
from provisioner_ops.smoke_http import Answer

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stack-health:sat-01-check-1"
EARLIER = "arn:aws:states:us-east-1:123456789012:execution:stack-health:sat-01-check-0"


def health(status: str, execution_arn: str = EXECUTION, **extra: Any) -> dict[str, Any]:
    findings = [
        {
            "check": "key works",
            "outcome": "passed",
            "detail": "ListObjectsV2 and GetObject",
            "repairable": False,
        },
        {"check": "cors", "outcome": "failed", "detail": "our rule is gone", "repairable": True},
        {"check": "widening", "outcome": "warning", "detail": "group\n  admins", "repairable": False},
    ]
    return {
        "status": status,
        "checked_at": "2026-01-01T00:00:00.000Z",
        "execution_arn": execution_arn,
        "findings": findings if status != "HEALTHY" else findings[:1],
        **extra,
    }


@dataclass
class FakeApi:
    """Answers from `respond(method, path, query)`; keeps every request it was sent."""

    respond: Callable[[str, str, dict[str, str]], Answer]
    base_url: str = "http://127.0.0.1:1"
    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def call(
        self, method: str, path: str, payload: Any = None, headers: Any = None, query: Any = None
    ) -> Answer:
        self.sent.append((method, path, dict(query or {})))
        return self.respond(method, path, dict(query or {}))


def started(route: str, repair: bool = False) -> Answer:
    body = {
        "connection_id": "sat-01",
        "execution_arn": EXECUTION,
        "repair": repair,
        "url": "/connections/sat-01",
    }
    return Answer(202, body, {"location": "/connections/sat-01"})


def api_with(record: dict[str, Any] | None, *, repair: bool = False) -> FakeApi:
    def respond(method: str, path: str, query: dict[str, str]) -> Answer:
        if method == "POST":
            return started(path, repair)
        return Answer(200, record)

    return FakeApi(respond)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    def run_with(api: FakeApi, *argv: str, description: dict[str, Any] | None = None) -> tuple[int, str, str]:
        target = Target(api=api, session=None, region="us-east-1", stack_name=None)  # type: ignore[arg-type]
        monkeypatch.setattr(cli, "resolve", lambda **_: target)
        # The run's history is Step Functions' (tests/unit/test_provisioner_cli_trace.py); here, its end.
        monkeypatch.setattr(commands_health, "follow", lambda *_: description)
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["--api-url", api.base_url, *argv], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    return run_with


SUCCEEDED = {"status": "SUCCEEDED"}


@pytest.mark.parametrize(("command", "route"), [("check", "health-checks"), ("repair", "repairs")])
def test_without_wait_it_starts_the_run_and_says_where_the_verdict_will_be(run, command, route):
    api = api_with(None)
    code, out, err = run(api, command, "sat-01", "--no-wait")
    assert (code, err) == (0, "")
    assert api.sent == [("POST", f"/connections/sat-01/{route}", {})]
    assert EXECUTION in out
    assert "provisioner status sat-01" in out


def test_a_healthy_connection_exits_0_with_each_finding_on_one_line(run):
    code, out, _ = run(
        api_with({"connection_id": "sat-01", "status": "ACTIVE", "health": health("HEALTHY")}),
        "check",
        "sat-01",
        "--wait",
        description=SUCCEEDED,
    )
    assert code == 0
    assert "Health: HEALTHY (checked 2026-01-01T00:00:00.000Z)" in out
    assert "  ok   key works: ListObjectsV2 and GetObject" in out.splitlines()


@pytest.mark.parametrize("verdict", ["DEGRADED", "BROKEN"])
def test_degraded_or_broken_exits_1_naming_each_finding(run, verdict):
    record = {"connection_id": "sat-01", "status": "ACTIVE", "health": health(verdict)}
    code, out, _ = run(api_with(record), "check", "sat-01", "--wait", description=SUCCEEDED)
    assert code == 1
    lines = out.splitlines()
    assert f"Health: {verdict} (checked 2026-01-01T00:00:00.000Z)" in lines
    assert "  FAIL cors: our rule is gone [repairable]" in lines
    # A detail over several lines is still one line per finding.
    assert "  warn widening: group admins" in lines


def test_a_repair_shows_what_it_put_back(run):
    record = {
        "connection_id": "sat-01",
        "status": "ACTIVE",
        "health": health("HEALTHY", repaired=["CORS rule labellerr-sat-01"]),
    }
    code, out, _ = run(api_with(record, repair=True), "repair", "sat-01", "--wait", description=SUCCEEDED)
    assert code == 0
    assert "  repaired:   CORS rule labellerr-sat-01" in out.splitlines()


def test_a_failed_run_exits_1_without_reading_an_old_verdict(run):
    api = api_with({"connection_id": "sat-01", "status": "ACTIVE", "health": health("HEALTHY", EARLIER)})
    code, out, _ = run(api, "check", "sat-01", "--wait", description={"status": "FAILED"})
    assert code == 1
    assert "ended FAILED" in out
    assert "HEALTHY" not in out


def test_without_the_history_it_waits_for_the_verdict_of_its_own_run(run):
    """No states:GetExecutionHistory: the record is read until its health names this run."""
    records = iter(
        [
            {"connection_id": "sat-01", "status": "ACTIVE", "health": health("HEALTHY", EARLIER)},
            {"connection_id": "sat-01", "status": "ACTIVE", "health": health("HEALTHY", EARLIER)},
            {"connection_id": "sat-01", "status": "ACTIVE", "health": health("BROKEN")},
        ]
    )
    api = FakeApi(lambda method, path, _: started(path) if method == "POST" else Answer(200, next(records)))
    code, out, _ = run(api, "check", "sat-01", "--wait", description=None)
    assert code == 1
    assert "Health: BROKEN" in out
    assert [method for method, _, _ in api.sent] == ["POST", "GET", "GET", "GET"]


def test_a_run_that_left_no_verdict_exits_1(run, monkeypatch):
    monkeypatch.setattr("provisioner_cli.commands_health.RECORD_GRACE_SECONDS", 0.0)
    api = api_with({"connection_id": "sat-01", "status": "ACTIVE", "health": health("HEALTHY", EARLIER)})
    code, out, _ = run(api, "check", "sat-01", "--wait", description=SUCCEEDED)
    assert code == 1
    assert "holds no verdict of it" in out


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "no connection 'nope'"),
        (409, "connection 'nope' is FAILED; only an ACTIVE or ROTATING connection can be checked"),
    ],
)
def test_the_apis_refusal_exits_1_naming_the_field(run, status, message):
    body = {"errors": [{"field": "connection_id", "message": message}]}
    api = FakeApi(lambda *_: Answer(status, body))
    code, out, _ = run(api, "check", "nope", "--wait")
    assert code == 1
    assert f"connection_id: {message}" in out
    assert len(api.sent) == 1


def test_no_answer_exits_3(run):
    def unreachable(*_: Any) -> Answer:
        raise ApiUnreachable("no answer from http://127.0.0.1:1/connections/sat-01/repairs: refused")

    code, _, err = run(FakeApi(unreachable), "repair", "sat-01")
    assert code == 3
    assert "no answer" in err


def test_no_connection_id_is_a_usage_error_exiting_2(run):
    with pytest.raises(SystemExit) as exit:
        run(api_with(None), "check")
    assert exit.value.code == 2


def test_list_filters_by_health_and_shows_it(run):
    page = {
        "connections": [
            {
                "connection_id": "sat-01",
                "status": "ACTIVE",
                "access": "import",
                "s3_uri": "a/b/",
                "health": health("BROKEN"),
            }
        ],
        "next_token": None,
    }
    api = FakeApi(lambda *_: Answer(200, page))
    code, out, _ = run(api, "list", "--health", "BROKEN")
    assert code == 0
    assert api.sent == [("GET", "/connections", {"limit": "100", "health": "BROKEN"})]
    header, row = out.splitlines()
    assert header.split()[-1] == "HEALTH"
    assert row.split()[-1] == "BROKEN"


def test_list_with_a_bad_health_value_exits_2_naming_the_field(run):
    body = {"errors": [{"field": "health", "message": "must be one of HEALTHY, DEGRADED, BROKEN"}]}
    code, out, _ = run(FakeApi(lambda *_: Answer(400, body)), "list", "--health", "OK")
    assert code == 2
    assert "health: must be one of HEALTHY, DEGRADED, BROKEN" in out


def test_status_shows_the_verdict_in_one_line(run):
    record = {"connection_id": "sat-01", "status": "ACTIVE", "health": health("DEGRADED")}
    code, out, _ = run(FakeApi(lambda *_: Answer(200, record)), "status", "sat-01")
    assert code == 0
    assert "  health:     DEGRADED (cors, widening), checked 2026-01-01T00:00:00.000Z" in out.splitlines()
