"""The wire below the Labellerr client, stdlib only: separate connect and read timeouts, a whole-call
deadline, no redirects, multipart/form-data encoded by hand, and the text helpers for error answers."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from typing import Any, Final

MAX_BODY: Final = 1 << 20
REDACTED: Final = "***"
_CHUNK = 65536
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class TransportFailure(Exception):
    """No HTTP answer: `reason` is safe to show (an exception class name, never request data)."""

    def __init__(self, reason: str, *, timed_out: bool) -> None:
        self.reason = reason
        self.timed_out = timed_out
        super().__init__(reason)


class _TimedHTTPConnection(http.client.HTTPConnection):
    """Connects (TCP, proxy tunnel, TLS) under the connect timeout, then reads under the read timeout."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self._read_timeout)


class _TimedHTTPSConnection(_TimedHTTPConnection, http.client.HTTPSConnection):
    """HTTPSConnection.connect (TLS) runs inside the read-timeout override above, through the MRO."""


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self._read_timeout = read_timeout

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPSConnection:
            return _TimedHTTPSConnection(host, read_timeout=self._read_timeout, **kwargs)

        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self._read_timeout = read_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _TimedHTTPConnection(host, read_timeout=self._read_timeout, **kwargs)

        return self.do_open(connection, req)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would resend every header, the api_secret too, to wherever a redirect points.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def build_opener(read_timeout: float) -> urllib.request.OpenerDirector:
    # ProxyHandler stays in: a function in a VPC may reach Labellerr through HTTPS_PROXY.
    return urllib.request.build_opener(
        _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout), _NoRedirects()
    )


def multipart(fields: Iterable[tuple[str, str]]) -> tuple[bytes, str]:
    """Body and Content-Type of plain text fields, as `requests` encodes `files={name: (None, value)}`."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode("utf-8")
        + b"\r\n"
        for name, value in fields
    ]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def send(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    *,
    connect_timeout: float,
    deadline: float,
) -> tuple[int, bytes]:
    """(status, body) of any HTTP answer, 4xx and 5xx included; TransportFailure when there is none."""
    started = time.monotonic()
    try:
        # Callers build only https:// URLs, or http:// on loopback.
        response = opener.open(request, timeout=connect_timeout)
    except urllib.error.HTTPError as error:
        try:
            return error.code, _read(error, started, deadline)
        except (OSError, http.client.HTTPException):
            return error.code, b""  # the status says enough
        finally:
            error.close()
    except urllib.error.URLError as error:
        timed_out = isinstance(error.reason, TimeoutError)
        kind = "timed out connecting" if timed_out else "could not connect"
        raise TransportFailure(f"{kind} ({type(error.reason).__name__})", timed_out=timed_out) from None
    except TimeoutError:
        raise TransportFailure("timed out waiting for the answer", timed_out=True) from None
    except (OSError, http.client.HTTPException) as error:
        raise TransportFailure(f"connection failed ({type(error).__name__})", timed_out=False) from None
    try:
        with response:
            return response.status, _read(response, started, deadline)
    except TimeoutError:
        raise TransportFailure("timed out reading the answer", timed_out=True) from None
    except (OSError, http.client.HTTPException) as error:
        raise TransportFailure(f"the answer broke off ({type(error).__name__})", timed_out=False) from None


def _read(response: Any, started: float, deadline: float) -> bytes:
    # A server that trickles bytes resets the read timeout with every chunk; the deadline bounds the call.
    chunks: list[bytes] = []
    size = 0
    read = getattr(response, "read1", None) or response.read
    while True:
        if time.monotonic() - started > deadline:
            raise TimeoutError("call deadline passed")
        chunk = read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise http.client.HTTPException("answer larger than 1 MiB")
        chunks.append(chunk)


def check_api_url(api_url: str) -> str:
    """The base URL without its trailing slash; ValueError unless https://, or http:// on loopback."""
    parsed = urllib.parse.urlsplit(api_url)
    host = parsed.hostname or ""
    # Plain http only for the local stand-in: elsewhere it would send the api_secret in clear.
    if not ((parsed.scheme == "https" and host) or (parsed.scheme == "http" and host in _LOOPBACK)):
        raise ValueError("the API URL must be https:// (or http:// on loopback)")
    if parsed.query or parsed.fragment:
        raise ValueError("the API URL must have no query or fragment")
    return api_url.rstrip("/")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced, also in the escaped forms an echo of the request may use."""
    for secret in secrets:
        if secret:
            # JSON may escape "/" (AWS secrets contain it); a form or URL echo percent-encodes it.
            forms = {secret, secret.replace("/", "\\/"), json.dumps(secret)[1:-1]}
            forms |= {urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe="")}
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, REDACTED)
    return text


def message_of(body: Any) -> str | None:
    """Labellerr's own words from an error body: {"error": ..., "message": ...} and nested forms."""
    if isinstance(body, str):
        return body.strip() or None
    if isinstance(body, dict):
        for key in ("message", "error", "msg", "detail", "response"):
            found = message_of(body.get(key))
            if found:
                return found
    if isinstance(body, list):
        found_all = [m for m in (message_of(item) for item in body[:5]) if m]
        return "; ".join(found_all) or None
    return None
