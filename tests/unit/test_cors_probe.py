"""The browser's CORS checks: where the preflight goes, what it sends, how answers and rule order are read."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from typing import ClassVar

import pytest

from provisioner_core import cors_probe
from provisioner_core.cors_probe import (
    HttpAnswer,
    check_foreign_refused,
    check_preflight,
    check_rule_order,
    check_signed_get,
    cors_checks,
    foreign_origin,
    object_url,
    probe_origins,
)

ORIGIN = "https://pro.labellerr.com"
EVIL = "https://pro.labellerr.com.evil.example"
RULE_ID = "labellerr-satellite-images"
EXPOSED = "ETag, Content-Length, Content-Type, Content-Range, Accept-Ranges"
OURS = {
    "ID": RULE_ID,
    "AllowedOrigins": ["https://*.labellerr.com"],
    "AllowedMethods": ["GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": EXPOSED.split(", "),
    "MaxAgeSeconds": 3600,
}
GOOD_PREFLIGHT = HttpAnswer(
    200,
    {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET, HEAD",
        "access-control-allow-headers": "range",
        "access-control-max-age": "3600",
    },
)


# --- where and what


def test_the_preflight_goes_to_the_regional_virtual_hosted_endpoint():
    assert (
        object_url("acme-datasets", "images/a b/ü.png", "eu-west-1")
        == "https://acme-datasets.s3.eu-west-1.amazonaws.com/images/a%20b/%C3%BC.png"
    )
    # A dotted name cannot be a TLS virtual host under *.s3.<region>.amazonaws.com.
    assert object_url("acme.data", "k", "us-east-1") == "https://s3.us-east-1.amazonaws.com/acme.data/k"
    assert object_url("acme-datasets", "k", "us-east-1", "http://127.0.0.1:5000") == (
        "http://127.0.0.1:5000/acme-datasets/k"
    )


def test_the_local_endpoint_comes_from_the_sdks_variables():
    assert cors_probe.endpoint_override({}) == ""
    assert cors_probe.endpoint_override({"AWS_ENDPOINT_URL": "http://127.0.0.1:1/"}) == "http://127.0.0.1:1"
    both = {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://s3:2"}
    assert cors_probe.endpoint_override(both) == "http://s3:2"


def test_one_probe_origin_per_allowed_pattern():
    assert probe_origins(["https://*.labellerr.com"]) == [ORIGIN]
    assert probe_origins(["https://*.labellerr.com", "https://pro.labellerr.com"]) == [ORIGIN]
    assert probe_origins(["https://*.example.org"]) == ["https://probe.example.org"]
    assert probe_origins(["https://app.example.org"]) == ["https://app.example.org"]
    assert probe_origins(["*"]) == [ORIGIN]
    assert probe_origins(["https://*.labellerr.com"], ["https://a.labellerr.com", "https://b.other"]) == [
        "https://a.labellerr.com"
    ]


def test_the_foreign_origin_is_the_probe_origin_with_a_suffix_a_prefix_match_would_take():
    assert foreign_origin(ORIGIN) == EVIL
    assert foreign_origin("http://pro.labellerr.com:8080") == "http://pro.labellerr.com.evil.example:8080"


def test_the_probe_key_is_a_listed_object_under_the_prefix_or_a_name_there():
    assert cors_probe.probe_key("images/", [{"Key": "images/a.png"}]) == "images/a.png"
    assert cors_probe.probe_key("images/", []) == "images/labellerr-cors-probe"


def test_the_curl_line_reproduces_the_preflight():
    line = cors_probe.curl_command("https://acme-datasets.s3.eu-west-1.amazonaws.com/images/a b.png", ORIGIN)
    assert line == (
        "curl -si -X OPTIONS -H 'Origin: https://pro.labellerr.com' -H 'Access-Control-Request-Method: GET' "
        "-H 'Access-Control-Request-Headers: range' 'https://acme-datasets.s3.eu-west-1.amazonaws.com/images/a b.png'"
    )


# --- sending, against a server on loopback


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def do_OPTIONS(self):
        self.seen.append((self.command, self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_send_request_sends_an_unsigned_options_as_a_browser_does(recorder):
    answer = cors_probe.send_request(
        f"{recorder}/bucket/images/a%20b.png", cors_probe.preflight_headers(ORIGIN)
    )
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    [(method, path, headers)] = _Recorder.seen
    assert (method, path) == ("OPTIONS", "/bucket/images/a%20b.png")
    assert headers["Origin"] == ORIGIN
    assert headers["Access-Control-Request-Method"] == "GET"
    assert "range" in headers["Access-Control-Request-Headers"]
    assert "Authorization" not in headers


def test_send_request_gives_up_on_a_silent_server_after_the_read_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        answer = cors_probe.send_request(
            f"http://127.0.0.1:{silent.getsockname()[1]}/b/k", {}, connect_timeout=1, read_timeout=0.3
        )
    assert answer.status == 0
    assert "timed out" in answer.error
    assert time.monotonic() - started < 2


def test_send_request_reports_a_refused_connection():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    answer = cors_probe.send_request(f"http://127.0.0.1:{port}/b/k", {}, connect_timeout=1)
    assert (answer.status, answer.error.split(":")[0]) == (0, "ConnectionRefusedError")


# --- reading answers


def test_a_preflight_passes_when_origin_method_and_range_are_granted():
    check = check_preflight(GOOD_PREFLIGHT, ORIGIN)
    assert (check["operation"], check["outcome"]) == ("cors:Preflight", "passed")
    assert "3600" in check["detail"]


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (HttpAnswer(403), "403"),
        (HttpAnswer(0, error="TimeoutError: timed out"), "timed out"),
        (
            HttpAnswer(200, {**GOOD_PREFLIGHT.headers, "access-control-allow-origin": "https://x"}),
            "Allow-Origin",
        ),
        (HttpAnswer(200, {**GOOD_PREFLIGHT.headers, "access-control-allow-methods": "HEAD"}), "GET"),
        (HttpAnswer(200, {**GOOD_PREFLIGHT.headers, "access-control-allow-headers": "x-a"}), "range"),
    ],
)
def test_a_preflight_fails_and_says_why(answer, needle):
    check = check_preflight(answer, ORIGIN)
    assert check["outcome"] == "failed"
    assert needle in check["detail"]


def test_the_signed_get_must_be_readable_by_the_page():
    good = HttpAnswer(
        206, {"access-control-allow-origin": ORIGIN, "access-control-expose-headers": EXPOSED.lower()}
    )
    assert check_signed_get(good, ORIGIN, "images/a.png")["outcome"] == "passed"
    hidden = HttpAnswer(206, {"access-control-allow-origin": ORIGIN, "access-control-expose-headers": "ETag"})
    check = check_signed_get(hidden, ORIGIN, "images/a.png")
    assert check["outcome"] == "failed"
    assert "Content-Range" in check["detail"]
    assert check_signed_get(HttpAnswer(206, {}), ORIGIN, "k")["outcome"] == "failed"
    assert check_signed_get(HttpAnswer(403, error="AccessDenied"), ORIGIN, "k")["outcome"] == "failed"


def test_a_foreign_origin_granted_by_our_rule_fails_and_by_the_customers_warns():
    assert check_foreign_refused(HttpAnswer(403), EVIL, [OURS], RULE_ID)["outcome"] == "passed"
    granted = HttpAnswer(200, {"access-control-allow-origin": EVIL})
    broad_ours = {**OURS, "AllowedOrigins": ["https://pro.labellerr.com*"]}
    assert check_foreign_refused(granted, EVIL, [broad_ours], RULE_ID)["outcome"] == "failed"
    public = {"ID": "public", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}
    check = check_foreign_refused(
        HttpAnswer(200, {"access-control-allow-origin": "*"}), EVIL, [public, OURS], RULE_ID
    )
    assert check["outcome"] == "warning"
    assert "'public'" in check["detail"]
    assert check_foreign_refused(HttpAnswer(0, error="x"), EVIL)["outcome"] == "not_tried"


# --- which rule S3 picks


def test_our_rule_alone_answers_everything():
    check = check_rule_order([OURS], RULE_ID, ORIGIN)
    assert (check["operation"], check["outcome"]) == ("cors:RuleOrder", "passed")


def test_an_earlier_narrow_rule_shadows_ours_on_the_get():
    # A typical customer rule: their own app, and Labellerr, GET only, nothing exposed.
    customer = {"AllowedOrigins": ["https://*.labellerr.com"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 60}
    check = check_rule_order([customer, OURS], RULE_ID, ORIGIN)
    assert check["outcome"] == "failed"
    assert f"#1 (without ID) answers GET from {ORIGIN} before '{RULE_ID}'" in check["detail"]
    assert "ExposeHeaders ETag" in check["detail"]
    assert "header range" in check["detail"]
    assert "move" in check["detail"]


def test_an_earlier_rule_for_other_origins_does_not_shadow():
    other = {"AllowedOrigins": ["https://app.acme.example"], "AllowedMethods": ["GET"]}
    assert check_rule_order([other, OURS], RULE_ID, ORIGIN)["outcome"] == "passed"


def test_an_earlier_rule_that_serves_labellerr_fully_is_fine():
    generous = {
        **OURS,
        "ID": "customer-all",
        "AllowedOrigins": ["*"],
        "AllowedMethods": ["GET", "HEAD", "PUT"],
    }
    check = check_rule_order([generous, OURS], RULE_ID, ORIGIN)
    assert check["outcome"] == "passed"
    assert "serves Labellerr as well" in check["detail"]


def test_without_our_rule_the_customers_configuration_is_judged():
    assert check_rule_order([], "", ORIGIN)["outcome"] == "failed"
    assert check_rule_order([{**OURS, "ID": "theirs"}], "", ORIGIN)["outcome"] == "passed"
    get_only = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}
    check = check_rule_order([get_only], "", ORIGIN)
    assert check["outcome"] == "failed"
    assert "no rule answers HEAD" in check["detail"]


# --- all of it, with the sender replaced


def test_cors_checks_probe_each_origin_and_its_foreign_twin():
    sent = []

    def send(url, headers):
        sent.append((url, headers["Origin"]))
        if headers["Origin"].endswith(".evil.example"):
            return HttpAnswer(403)
        return HttpAnswer(200, {**GOOD_PREFLIGHT.headers, "access-control-allow-origin": headers["Origin"]})

    checks = cors_checks(
        None,
        bucket="acme-datasets",
        key="images/a.png",
        region="eu-west-1",
        origins=[ORIGIN, "https://app.labellerr.com"],
        rules=[OURS],
        rule_id=RULE_ID,
        object_exists=False,
        send=send,
        endpoint="",
    )
    url = "https://acme-datasets.s3.eu-west-1.amazonaws.com/images/a.png"
    assert sent == [
        (url, ORIGIN),
        (url, EVIL),
        (url, "https://app.labellerr.com"),
        (url, "https://app.labellerr.com.evil.example"),
    ]
    assert [(c["operation"], c["outcome"]) for c in checks[:4]] == [
        ("cors:Preflight", "passed"),
        ("cors:GetObject", "not_tried"),
        ("cors:RuleOrder", "passed"),
        ("cors:ForeignOriginRefused", "passed"),
    ]
    assert cors_probe.failures(checks) == []


def test_a_customer_managed_bucket_reports_warnings_not_failures():
    checks = [{"operation": "cors:Preflight", "outcome": "failed", "detail": "403"}]
    assert cors_probe.as_warnings(checks) == [
        {"operation": "cors:Preflight", "outcome": "warning", "detail": "403"}
    ]
    assert checks[0]["outcome"] == "failed"


def test_an_endpoint_that_does_not_answer_costs_one_timeout_per_origin():
    sent = []

    def send(url, headers):
        sent.append(headers["Origin"])
        return HttpAnswer(0, error="TimeoutError: timed out")

    checks = cors_checks(
        None,
        bucket="acme-datasets",
        key="images/a.png",
        region="eu-west-1",
        origins=[ORIGIN],
        rules=[OURS],
        rule_id=RULE_ID,
        object_exists=False,
        send=send,
        endpoint="",
    )
    assert sent == [ORIGIN]
    assert {c["operation"]: c["outcome"] for c in checks}["cors:ForeignOriginRefused"] == "not_tried"
    assert [c["operation"] for c in cors_probe.failures(checks)] == ["cors:Preflight"]
