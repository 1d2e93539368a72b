"""The smoke check's small parts: the signed API call, where a browser sends its preflight, the key's retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from provisioner_ops import smoke_checks
from provisioner_ops.smoke_http import HttpFailure, SignedApi, api_region, object_url


@pytest.fixture
def recorder():
    """A loopback server that answers 202 with JSON and keeps each request's method, path and headers."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
            payload = b'{"connection_id": "c"}'
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_api_calls_are_sigv4_signed_for_execute_api_in_the_apis_region(recorder):
    url, seen = recorder
    api = SignedApi(url, Credentials("AKIDEXAMPLE", "not-a-real-secret"), "eu-west-3")
    answer = api.call("POST", "/connections", {"bucket": "b"}, {"Idempotency-Key": "k"})
    assert answer.status == 202
    assert answer.body == {"connection_id": "c"}
    [request] = seen
    authorization = request["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-3/execute-api/aws4_request" in authorization
    assert "idempotency-key" in authorization.split("SignedHeaders=")[1]
    assert "X-Amz-Date" in request["headers"]
    assert json.loads(request["body"]) == {"bucket": "b"}


def test_no_answer_is_a_named_failure():
    api = SignedApi("http://127.0.0.1:9", Credentials("a", "b"), "us-east-1")
    with pytest.raises(HttpFailure, match=r"GET http://127\.0\.0\.1:9/connections"):
        api.call("GET", "/connections")


def test_the_signing_region_comes_from_the_api_host():
    assert api_region("https://abc123.execute-api.eu-west-3.amazonaws.com", "us-east-1") == "eu-west-3"
    assert api_region("http://127.0.0.1:4000", "us-east-1") == "us-east-1"


def test_where_a_browser_sends_its_preflight():
    assert object_url("acme", "p/k", "eu-west-3", None) == "https://acme.s3.eu-west-3.amazonaws.com/p/k"
    assert object_url("a.b", "k", "eu-west-3", None) == "https://s3.eu-west-3.amazonaws.com/a.b/k"
    assert object_url("acme", "p/k", "us-east-1", "http://127.0.0.1:5/") == "http://127.0.0.1:5/acme/p/k"


class FakeSecrets:
    def get_secret_value(self, **_kwargs):
        return {
            "SecretString": json.dumps(
                {"access_key_id": "AKIA1", "secret_access_key": "s3cr3t", "region": "us-east-1"}
            )
        }


class FakeS3:
    def __init__(self, failures: int, code: str = "InvalidAccessKeyId"):
        self.failures, self.code, self.calls = failures, code, 0

    def list_objects_v2(self, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "ListObjectsV2")
        return {"KeyCount": 0}


def test_a_fresh_key_is_retried_with_backoff_until_it_works(monkeypatch):
    s3 = FakeS3(failures=3)
    monkeypatch.setattr(smoke_checks.boto3, "client", lambda *a, **k: s3)
    sleeps: list[float] = []
    outcome = smoke_checks.key_lists_prefix(
        FakeSecrets(), "arn:secret", bucket="b", prefix="p/", endpoint_url=None, sleep=sleeps.append
    )
    assert outcome.passed is True
    assert "attempt 4" in outcome.detail
    assert sleeps == [1.0, 2.0, 4.0]
    assert "s3cr3t" not in outcome.detail


def test_a_key_that_never_works_fails_at_the_deadline_and_other_errors_at_once(monkeypatch):
    s3 = FakeS3(failures=100)
    monkeypatch.setattr(smoke_checks.boto3, "client", lambda *a, **k: s3)
    outcome = smoke_checks.key_lists_prefix(
        FakeSecrets(),
        "arn:secret",
        bucket="b",
        prefix="p/",
        endpoint_url=None,
        wait_s=0,
        sleep=lambda _: None,
    )
    assert outcome.passed is False
    assert "InvalidAccessKeyId" in outcome.detail
    s3 = FakeS3(failures=100, code="NoSuchBucket")
    monkeypatch.setattr(smoke_checks.boto3, "client", lambda *a, **k: s3)
    outcome = smoke_checks.key_lists_prefix(
        FakeSecrets(), "arn:secret", bucket="b", prefix="p/", endpoint_url=None, sleep=lambda _: None
    )
    assert outcome.passed is False
    assert s3.calls == 1
