"""The Labellerr client against a tiny loopback HTTP server that records what it receives."""

from __future__ import annotations

import contextlib
import datetime
import email.parser
import email.policy
import ipaddress
import json
import logging
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from provisioner_core.labellerr import (
    CONNECTION_TYPES_BY_ACCESS,
    LabellerrClient,
    LabellerrCredentials,
    S3Credentials,
    load_credentials,
)
from provisioner_core.labellerr_errors import (
    LabellerrMisconfigured,
    LabellerrRejected,
    LabellerrTestFailed,
    LabellerrUnavailable,
)
from provisioner_core.labellerr_transport import MAX_BODY

# Slashes and plus signs, like real AWS secrets, so escaping in an echoed body is covered.
S3_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
API_SECRET = "lab-secret/6f1c+9a2d"
CREDENTIALS = LabellerrCredentials(api_key="key-123", api_secret=API_SECRET, client_id="42")
S3 = S3Credentials("AKIAEXAMPLE000000001", S3_SECRET)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["content-type"].encode() + b"\r\n\r\n" + self.body
        )
        assert message.is_multipart()
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_content().strip("\r\n")
        return fields


Reply = tuple[int, Any]


@dataclass
class Fake:
    """Answers with `reply(seen)`: (status, JSON-able body or bytes); records every request."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    reply: Callable[[Seen], Reply] = lambda seen: (200, {"response": {}})

    def client(self, **kwargs: Any) -> LabellerrClient:
        return LabellerrClient(CREDENTIALS, self.url, **kwargs)


@contextlib.contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[Fake]:
    holder: dict[str, Fake] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            seen = Seen(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            holder["fake"].seen.append(seen)
            status, body = holder["fake"].reply(seen)
            if callable(body):
                body(self)
                return
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            if status in (301, 302, 307):
                # Back to this server: a followed redirect would show up in `seen`.
                self.send_header("Location", holder["fake"].url + "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    holder["fake"] = Fake(f"{scheme}://127.0.0.1:{server.server_address[1]}")
    try:
        yield holder["fake"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake() -> Iterator[Fake]:
    with serve() as server:
        yield server


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (S3_SECRET, API_SECRET, S3_SECRET.replace("/", "\\/"), API_SECRET.replace("/", "\\/")):
            assert secret not in text


# -- what goes on the wire


def test_every_call_sends_the_sdk_headers_and_a_fresh_uuid(fake: Fake) -> None:
    fake.reply = lambda seen: (200, {"response": [{"connection_id": "c-1"}]})
    client = fake.client()
    client.list_connections()
    client.list_connections("export")
    first, second = fake.seen
    for seen in fake.seen:
        assert seen.headers["api_key"] == "key-123"
        assert seen.headers["api_secret"] == API_SECRET
        assert seen.headers["client_id"] == "42"
        assert seen.headers["email_id"] == "key-123"
        assert seen.headers["source"] == "sdk"
        assert seen.headers["origin"] == "https://pro.labellerr.com"
        assert seen.query["client_id"] == ["42"]
        assert uuid.UUID(seen.query["uuid"][0]).version == 4
        assert seen.method == "GET"
        assert seen.path == "/connectors/connections/list"
        assert seen.query["connector"] == ["s3"]
    assert first.query["uuid"] != second.query["uuid"]
    assert "connection_type" not in first.query
    assert second.query["connection_type"] == ["export"]


def test_test_connection_posts_the_multipart_form_of_the_sdk(fake: Fake) -> None:
    fake.reply = lambda seen: (200, {"response": {"status": "success"}})
    answer = fake.client().test_connection(S3, "acme/images/", "import", "video")
    assert answer == {"status": "success"}
    (seen,) = fake.seen
    assert seen.method == "POST"
    assert seen.path == "/connectors/connections/test"
    assert seen.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = seen.form()
    assert form == {
        "credentials": form["credentials"],
        "connector": "s3",
        "path": "acme/images/",
        "connection_type": "import",
        "data_type": "video",
    }
    assert json.loads(form["credentials"]) == {
        "access_key_id": "AKIAEXAMPLE000000001",
        "secret_access_key": S3_SECRET,
    }


def test_create_connection_sends_name_description_client_id_and_no_path(fake: Fake) -> None:
    fake.reply = lambda seen: (201, {"response": {"connection_id": "lab-77"}})
    assert (
        fake.client().create_connection(S3, "export", "Satellite images", "from the provisioner") == "lab-77"
    )
    (seen,) = fake.seen
    assert seen.path == "/connectors/connections/create"
    form = seen.form()
    assert {k: v for k, v in form.items() if k != "credentials"} == {
        "connector": "s3",
        "connection_type": "export",
        "name": "Satellite images",
        "description": "from the provisioner",
        "client_id": "42",
    }
    assert json.loads(form["credentials"])["secret_access_key"] == S3_SECRET


def test_create_without_a_connection_id_in_the_answer_is_rejected_not_retried(fake: Fake) -> None:
    fake.reply = lambda seen: (200, {"response": {}})
    with pytest.raises(LabellerrRejected, match="connection_id"):
        fake.client().create_connection(S3, "import", "x")


def test_delete_posts_json_with_the_connection_id(fake: Fake) -> None:
    fake.reply = lambda seen: (200, {"response": {"message": "deleted"}})
    assert fake.client().delete_connection("lab-77") is True
    (seen,) = fake.seen
    assert seen.method == "POST"
    assert seen.path == "/connectors/connections/delete"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"connection_id": "lab-77"}
    assert seen.query["client_id"] == ["42"]


def test_delete_answered_204_without_a_body_is_deleted(fake: Fake) -> None:
    fake.reply = lambda seen: (204, b"")
    assert fake.client().delete_connection("lab-77") is True


def test_details_reads_the_connection(fake: Fake) -> None:
    body = {
        "connection_id": "lab-77",
        "name": "Sat",
        "description": "d",
        "connector": "s3",
        "connection_type": "import",
        "created_at": "2026-12-01T00:00:00Z",
        "created_by": "key-123",
    }
    fake.reply = lambda seen: (200, {"response": body})
    details = fake.client().connection_details("lab-77")
    assert details is not None
    assert (details.connection_id, details.name, details.connector, details.connection_type) == (
        "lab-77",
        "Sat",
        "s3",
        "import",
    )
    assert fake.seen[0].path == "/connectors/connections/lab-77/details"


@pytest.mark.parametrize(
    "reply", [(404, {"error": "Connection not found", "code": 404}), (200, {}), (200, {"response": None})]
)
def test_details_of_an_unknown_id_is_none(fake: Fake, reply: Reply) -> None:
    fake.reply = lambda seen: reply
    assert fake.client().connection_details("gone") is None


def test_find_connections_matches_type_name_and_description_marker(fake: Fake) -> None:
    rows = {
        "a": {"name": "Sat", "description": "x [prov:conn-1]", "connection_type": "import"},
        "b": {"name": "Sat", "description": "x [prov:conn-2]", "connection_type": "import"},
        "c": {"name": "Other", "description": "x [prov:conn-1]", "connection_type": "import"},
    }

    def reply(seen: Seen) -> Reply:
        if seen.path.endswith("/list"):
            return 200, {"response": [{"connection_id": k} for k in rows]}
        key = seen.path.split("/")[3]
        return 200, {"response": {"connection_id": key, "connector": "s3", **rows[key]}}

    fake.reply = reply
    found = fake.client().find_connections(
        connection_type="import", name="Sat", description_marker="[prov:conn-1]"
    )
    assert [c.connection_id for c in found] == ["a"]


# -- errors the state machine matches on


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_and_429_are_retryable(fake: Fake, status: int) -> None:
    fake.reply = lambda seen: (status, {"error": "busy", "code": status})
    with pytest.raises(LabellerrUnavailable) as caught:
        fake.client().create_connection(S3, "import", "x")
    assert caught.value.status == status
    assert caught.value.request_id == fake.seen[0].query["uuid"][0]
    assert f"HTTP {status}" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"error": "Invalid S3 path: bucket not found", "code": 400}, "Invalid S3 path: bucket not found"),
        ({"error": {"message": "Access Denied on ListObjects"}, "code": 400}, "Access Denied on ListObjects"),
        ({"message": "path is required"}, "path is required"),
        (b"<html>Bad Request</html>", "<html>Bad Request</html>"),
    ],
)
def test_4xx_is_rejected_with_labellerrs_own_message(fake: Fake, body: Any, said: str) -> None:
    fake.reply = lambda seen: (400, body)
    with pytest.raises(LabellerrRejected) as caught:
        fake.client().test_connection(S3, "acme/images/", "import")
    assert caught.value.status == 400
    assert caught.value.labellerr_message == said
    assert said in str(caught.value)
    assert not isinstance(caught.value, LabellerrUnavailable)
    # Labellerr ran the test and it failed: its own name, so the state machine's cause says so.
    assert type(caught.value) is LabellerrTestFailed
    assert str(caught.value).startswith("Labellerr test_connection: HTTP 400: ")


@pytest.mark.parametrize("status", [401, 403])
def test_a_test_refused_for_our_api_credentials_is_rejected_not_a_failed_test(
    fake: Fake, status: int
) -> None:
    fake.reply = lambda seen: (status, {"error": "Invalid API key", "code": status})
    with pytest.raises(LabellerrRejected) as caught:
        fake.client().test_connection(S3, "acme/images/", "import")
    assert type(caught.value) is LabellerrRejected


def test_2xx_that_is_not_json_is_rejected(fake: Fake) -> None:
    fake.reply = lambda seen: (200, b"<html>captive portal</html>")
    with pytest.raises(LabellerrRejected, match="without a JSON object"):
        fake.client().list_connections()


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(LabellerrUnavailable, match="could not connect"):
        LabellerrClient(CREDENTIALS, "http://127.0.0.1:9").list_connections()


def _slow(delay: float) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)

    return respond


def test_read_timeout_is_its_own_and_retryable(fake: Fake) -> None:
    fake.reply = lambda seen: (200, _slow(1.5))
    started = time.monotonic()
    with pytest.raises(LabellerrUnavailable, match="timed out"):
        fake.client(connect_timeout=5.0, read_timeout=0.3).list_connections()
    # The read timeout applied, not the longer connect timeout.
    assert time.monotonic() - started < 1.2


def _trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(30):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.1)


def test_a_trickling_answer_is_cut_at_the_call_deadline(fake: Fake) -> None:
    fake.reply = lambda seen: (200, _trickle)
    started = time.monotonic()
    with pytest.raises(LabellerrUnavailable, match="timed out"):
        fake.client(read_timeout=1.0, deadline=0.5).list_connections()
    assert time.monotonic() - started < 1.5


def test_no_time_left_in_the_invocation_fails_before_sending(fake: Fake) -> None:
    with pytest.raises(LabellerrUnavailable, match="no time left"):
        fake.client(time_left=lambda: 2.0).list_connections()
    assert fake.seen == []


def test_redirects_are_not_followed(fake: Fake) -> None:
    hops: list[str] = []

    def reply(seen: Seen) -> Reply:
        hops.append(seen.path)
        return (302, {})

    fake.reply = reply
    with pytest.raises(LabellerrRejected, match="HTTP 302"):
        fake.client().list_connections()
    assert hops == ["/connectors/connections/list"]


def test_an_answer_over_1_mib_is_cut(fake: Fake) -> None:
    fake.reply = lambda seen: (200, b" " * (MAX_BODY + 1))
    with pytest.raises(LabellerrUnavailable, match="larger than 1 MiB"):
        fake.client().list_connections()
    # An error status says enough without its body.
    fake.reply = lambda seen: (503, b" " * (MAX_BODY + 1))
    with pytest.raises(LabellerrUnavailable, match=r"HTTP 503 \(request"):
        fake.client().list_connections()


# -- proxies: urllib3 reads no environment variable, the transport does as botocore and urllib do


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_a_proxy_from_the_environment_carries_the_call(fake: Fake, proxy_env: Callable[..., None]) -> None:
    fake.reply = lambda seen: (200, {"response": [{"connection_id": "c-1"}]})
    # Nothing listens on port 9: only the proxy (the fake, which reads the absolute-form path) can answer.
    proxy_env(HTTP_PROXY=fake.url)
    assert LabellerrClient(CREDENTIALS, "http://127.0.0.1:9").list_connections() == ["c-1"]
    (seen,) = fake.seen
    assert (seen.path, seen.headers["host"]) == ("/connectors/connections/list", "127.0.0.1:9")


def test_no_proxy_exempts_the_host(fake: Fake, proxy_env: Callable[..., None]) -> None:
    fake.reply = lambda seen: (200, {"response": []})
    proxy_env(HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1")
    assert fake.client().list_connections() == []


def test_an_unreachable_proxy_is_retryable_and_never_named(
    proxy_env: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy_env(HTTP_PROXY="http://someone:pr0xy-pass@127.0.0.1:9")
    with pytest.raises(LabellerrUnavailable, match=r"could not connect \(ConnectionRefusedError\)") as caught:
        LabellerrClient(CREDENTIALS, "http://127.0.0.1:8").list_connections()
    for text in (str(caught.value), repr(caught.value.args), caplog.text):
        assert "pr0xy-pass" not in text
        assert "someone" not in text


# -- https: the production path, with a throwaway certificate for 127.0.0.1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def tls_fake(certificate: tuple[Path, Path]) -> Iterator[Fake]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with serve(context) as server:
        yield server


def test_https_works_and_verifies_the_certificate(
    tls_fake: Fake, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tls_fake.reply = lambda seen: (200, {"response": [{"connection_id": "c-1"}]})
    # Not trusted yet: the client verifies certificates.
    with pytest.raises(LabellerrUnavailable, match="SSLCertVerificationError"):
        tls_fake.client().list_connections()
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    assert tls_fake.client().list_connections() == ["c-1"]
    assert tls_fake.seen[-1].headers["api_secret"] == API_SECRET


def test_https_read_timeout_applies_after_the_handshake(
    tls_fake: Fake, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    tls_fake.reply = lambda seen: (200, _slow(1.5))
    started = time.monotonic()
    with pytest.raises(LabellerrUnavailable, match="timed out"):
        tls_fake.client(connect_timeout=5.0, read_timeout=0.3).list_connections()
    assert time.monotonic() - started < 1.2


# -- delete: already gone is success


def test_delete_of_an_unknown_id_404_is_already_gone(fake: Fake) -> None:
    fake.reply = lambda seen: (404, {"error": "Connection not found", "code": 404})
    assert fake.client().delete_connection("gone") is False


def test_delete_refused_with_400_is_gone_when_details_does_not_know_the_id(fake: Fake) -> None:
    fake.reply = lambda seen: (400, {"error": "Invalid connection id", "code": 400})
    assert fake.client().delete_connection("gone") is False
    assert [s.path for s in fake.seen] == [
        "/connectors/connections/delete",
        "/connectors/connections/gone/details",
    ]


def test_delete_refused_for_a_connection_that_still_exists_is_rejected(fake: Fake) -> None:
    def reply(seen: Seen) -> Reply:
        if seen.path.endswith("/delete"):
            return 400, {"error": "Connection is used by 2 datasets", "code": 400}
        return 200, {"response": {"connection_id": "busy", "connector": "s3"}}

    fake.reply = reply
    with pytest.raises(LabellerrRejected, match="used by 2 datasets"):
        fake.client().delete_connection("busy")


def test_delete_with_bad_credentials_is_rejected_not_gone(fake: Fake) -> None:
    fake.reply = lambda seen: (401, {"error": "Invalid API key", "code": 401})
    with pytest.raises(LabellerrRejected, match="Invalid API key"):
        fake.client().delete_connection("c-1")
    assert len(fake.seen) == 1


def test_delete_failing_with_5xx_is_retryable(fake: Fake) -> None:
    fake.reply = lambda seen: (503, {"error": "down"})
    with pytest.raises(LabellerrUnavailable):
        fake.client().delete_connection("c-1")


# -- secrets never leave the request


def _echo(status: int) -> Callable[[Seen], Reply]:
    """A server that quotes the whole request back, as a careless error page might."""

    def reply(seen: Seen) -> Reply:
        quoted = json.dumps({"headers": seen.headers, "body": seen.body.decode()})
        return status, {"error": quoted.replace("/", "\\/"), "raw": quoted, "code": status}

    return reply


@pytest.mark.parametrize("status", [400, 500])
def test_secrets_appear_in_no_error_repr_or_log(
    fake: Fake, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = fake.client()
    errors = []
    for call in (
        lambda: client.test_connection(S3, "acme/images/", "export"),
        lambda: client.create_connection(S3, "import", "x"),
        lambda: client.list_connections(),
    ):
        fake.reply = _echo(status)
        with pytest.raises((LabellerrRejected, LabellerrUnavailable)) as caught:
            call()
        errors.append(caught.value)
    # The echo really carried the secrets, so the absence below is the scrubbing's doing.
    assert S3_SECRET in fake.seen[0].body.decode()
    assert "***" in str(errors[0])
    for error in errors:
        assert_no_secret(str(error), repr(error), repr(error.args), str(error.labellerr_message))
    assert_no_secret(caplog.text, repr(client), repr(CREDENTIALS), repr(S3))
    assert "AKIAEXAMPLE000000001" in repr(S3)


def test_a_message_with_the_raw_secret_is_scrubbed(fake: Fake) -> None:
    fake.reply = lambda seen: (400, b"bad credentials " + S3_SECRET.encode() + b" / " + API_SECRET.encode())
    with pytest.raises(LabellerrRejected) as caught:
        fake.client().create_connection(S3, "import", "x")
    assert_no_secret(str(caught.value))
    assert str(caught.value).count("***") == 2


def test_a_percent_encoded_echo_is_scrubbed(fake: Fake) -> None:
    echoed = urllib.parse.urlencode({"secret": S3_SECRET, "api": API_SECRET})
    fake.reply = lambda seen: (500, {"error": "bad form " + echoed})
    with pytest.raises(LabellerrUnavailable) as caught:
        fake.client().create_connection(S3, "import", "x")
    assert urllib.parse.quote_plus(S3_SECRET) in echoed
    assert urllib.parse.quote_plus(S3_SECRET) not in str(caught.value)
    assert urllib.parse.quote_plus(API_SECRET) not in str(caught.value)


# -- configuration


def test_credentials_from_the_secret() -> None:
    text = json.dumps({"api_key": "k", "api_secret": API_SECRET, "client_id": 42})
    assert LabellerrCredentials.from_secret_string(text) == LabellerrCredentials("k", API_SECRET, "42")


@pytest.mark.parametrize(
    "text",
    [
        "not json " + API_SECRET,
        json.dumps([API_SECRET]),
        json.dumps({"api_key": "k", "apiSecret": API_SECRET, "client_id": "1"}),
        json.dumps({"api_key": "k", "api_secret": "", "client_id": "1"}),
    ],
)
def test_a_bad_credentials_secret_is_misconfigured_and_never_quoted(text: str) -> None:
    with pytest.raises(LabellerrMisconfigured) as caught:
        LabellerrCredentials.from_secret_string(text)
    assert_no_secret(str(caught.value))


def test_load_credentials_reads_secrets_manager() -> None:
    class Secrets:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803
            assert SecretId == "arn:labellerr"
            return {"SecretString": json.dumps({"api_key": "k", "api_secret": "s", "client_id": "c"})}

    assert load_credentials(Secrets(), "arn:labellerr").client_id == "c"


@pytest.mark.parametrize(
    "url", ["http://api.labellerr.com", "ftp://127.0.0.1", "https://", "https://api.labellerr.com/?x=1"]
)
def test_only_https_or_loopback_http_api_urls(url: str) -> None:
    with pytest.raises(LabellerrMisconfigured):
        LabellerrClient(CREDENTIALS, url)


def test_api_url_keeps_a_path_prefix(fake: Fake) -> None:
    fake.reply = lambda seen: (200, {"response": []})
    LabellerrClient(CREDENTIALS, fake.url + "/labellerr/").list_connections()
    assert fake.seen[0].path == "/labellerr/connectors/connections/list"


def test_invalid_choices_fail_before_any_call(fake: Fake) -> None:
    with pytest.raises(ValueError, match="connection_type"):
        fake.client().test_connection(S3, "a/", "import_export")
    with pytest.raises(ValueError, match="data_type"):
        fake.client().test_connection(S3, "a/", "import", "pointcloud")
    assert fake.seen == []


def test_access_maps_to_connection_types() -> None:
    assert CONNECTION_TYPES_BY_ACCESS == {"import": ("import",), "import_export": ("import", "export")}
