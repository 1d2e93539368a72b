"""`provisioner` signs every request with SigV4 for execute-api: checked against botocore's own signer and
against the signature computed by hand from AWS's documented steps, for a known request at a fixed time;
and the gateway's 403 is said in words, never as a traceback."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from provisioner_cli.cli import main
from provisioner_cli.signing import ApiClient, signed_headers
from provisioner_cli.stack import resolve

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "session-token-example"
AT = datetime(2026, 5, 4, 12, 30, 45, tzinfo=UTC)
URL = "https://a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com/connections?bucket=acme&status=ACTIVE"
BODY = json.dumps({"connection_name": "Satellite images", "bucket": "acme"}).encode()
HEADERS = {"Accept": "application/json", "Content-Type": "application/json", "Idempotency-Key": "k-1"}


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: AT)


def _by_hand(method: str, url: str, body: bytes, headers: dict[str, str], region: str) -> str:
    """The Authorization header, computed from AWS's SigV4 documentation, not from botocore."""
    parts = urlsplit(url)
    stamp, day = AT.strftime("%Y%m%dT%H%M%SZ"), AT.strftime("%Y%m%d")
    all_headers = {name.lower(): value.strip() for name, value in headers.items()}
    all_headers |= {"host": parts.netloc, "x-amz-date": stamp, "x-amz-security-token": TOKEN}
    names = sorted(all_headers)
    query = "&".join(sorted(parts.query.split("&")))
    canonical = "\n".join(
        [
            method,
            parts.path,
            query,
            "".join(f"{name}:{all_headers[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/execute-api/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{SECRET_KEY}".encode()
    for part in (day, region, "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"


def test_a_known_request_is_signed_as_botocore_and_the_documentation_sign_it(fixed_time):
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, TOKEN)
    ours = signed_headers("POST", URL, BODY, HEADERS, credentials, "eu-west-3")

    reference = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(HEADERS))
    SigV4Auth(credentials, "execute-api", "eu-west-3").add_auth(reference)
    assert ours == dict(reference.headers.items())
    assert ours["X-Amz-Date"] == "20260504T123045Z"
    assert ours["X-Amz-Security-Token"] == TOKEN
    assert ours["Authorization"] == _by_hand("POST", URL, BODY, HEADERS, "eu-west-3")


def test_another_region_or_key_gives_another_signature(fixed_time):
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, TOKEN)
    ours = signed_headers("POST", URL, BODY, HEADERS, credentials, "eu-west-3")["Authorization"]
    assert signed_headers("POST", URL, BODY, HEADERS, credentials, "us-east-1")["Authorization"] != ours
    assert (
        signed_headers("POST", URL, BODY + b" ", HEADERS, credentials, "eu-west-3")["Authorization"] != ours
    )


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []
    status = 200
    answer: ClassVar[Any] = {"connections": [], "next_token": None}

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        raw = json.dumps(type(self).answer).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"seen": [], "status": 200})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_the_client_sends_what_it_signed(server, fixed_time):
    url, handler = server
    credentials = Credentials(ACCESS_KEY, SECRET_KEY)
    client = ApiClient(url, "eu-west-3", lambda: credentials)
    answer = client.call("POST", "/connections", {"bucket": "acme"}, {"Idempotency-Key": "k-1"}, {"a": "b c"})
    assert answer.status == 200
    [seen] = handler.seen
    assert seen["path"] == "/connections?a=b%20c"
    reference = AWSRequest(
        method="POST",
        url=f"{url}/connections?a=b%20c",
        data=seen["body"],
        headers={"Accept": "application/json", "Content-Type": "application/json", "Idempotency-Key": "k-1"},
    )
    SigV4Auth(credentials, "execute-api", "eu-west-3").add_auth(reference)
    assert seen["headers"]["Authorization"] == reference.headers["Authorization"]
    assert "/eu-west-3/execute-api/aws4_request" in seen["headers"]["Authorization"]


@pytest.fixture
def credentials_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "PROVISIONER_API_URL", "PROVISIONER_STACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")


def test_a_403_from_the_gateway_names_the_signature_and_the_invoke_permission(server, credentials_env):
    url, handler = server
    handler.status, handler.answer = 403, {"message": "Forbidden"}
    out, err = io.StringIO(), io.StringIO()
    assert main(["--api-url", url, "status", "abc"], out=out, err=err) == 3
    message = err.getvalue()
    assert message.count("\n") == 1
    assert "403 from the API gateway (Forbidden)" in message
    assert "signature" in message
    assert "execute-api:Invoke" in message


def test_the_region_signed_for_is_the_apis_own(credentials_env):
    target = resolve(
        api_url="https://a1b2c3d4e5.execute-api.ap-south-1.amazonaws.com",
        stack_name=None,
        region=None,
        profile=None,
    )
    assert target.api.region == "ap-south-1"
    local = resolve(api_url="http://127.0.0.1:1", stack_name=None, region="eu-north-1", profile=None)
    assert local.api.region == "eu-north-1"


def test_an_unknown_profile_is_one_line(credentials_env):
    err = io.StringIO()
    assert (
        main(["--profile", "no-such-profile-here", "--api-url", "http://127.0.0.1:1", "list"], err=err) == 3
    )
    assert "no-such-profile-here" in err.getvalue()
    assert err.getvalue().count("\n") == 1
