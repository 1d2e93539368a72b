"""The wire below the Labellerr client, on urllib3 (http_pool): separate connect and read timeouts, a
whole-call deadline, a 1 MiB cap on the answer, no redirects, the multipart form as `requests` sends it,
HTTPS_PROXY honoured, and the text helpers for error answers."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from http.client import HTTPException
from typing import Any, Final

import urllib3

from provisioner_core.http_pool import discard, manager_for, root_cause

MAX_BODY: Final = 1 << 20
REDACTED: Final = "***"
_CHUNK = 65536
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Before the request is answered: no connection (refused, DNS, TLS, proxy) or no answer in time.
_CONNECTING = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.SSLError,
    urllib3.exceptions.ProxyError,
)
_BROKEN = (urllib3.exceptions.HTTPError, OSError, HTTPException)


class TransportFailure(Exception):
    """No HTTP answer: `reason` is safe to show (an exception class name, never request data)."""

    def __init__(self, reason: str, *, timed_out: bool) -> None:
        self.reason = reason
        self.timed_out = timed_out
        super().__init__(reason)


class _TooLarge(Exception):
    pass


def multipart(fields: Iterable[tuple[str, str]]) -> tuple[bytes, str]:
    """Body and Content-Type of plain text fields, as `requests` encodes `files={name: (None, value)}`:
    one part per field with only a Content-Disposition (no filename, no Content-Type), UTF-8 values."""
    return urllib3.encode_multipart_formdata(list(fields))


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None = None,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
) -> tuple[int, bytes]:
    """(status, body) of any HTTP answer, 4xx and 5xx included; TransportFailure when there is none.

    Callers build only https:// URLs, or http:// on loopback (check_api_url).
    """
    started = time.monotonic()
    try:
        response = manager_for(url).request(
            method,
            url,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            # Retries are the state machine's; a redirect would carry the api_secret to wherever it points.
            retries=False,
            redirect=False,
            # Read in chunks below, so the deadline and the cap apply while the body arrives.
            preload_content=False,
        )
    except _CONNECTING as error:
        cause = root_cause(error)
        timed_out = isinstance(cause, TimeoutError)
        kind = "timed out connecting" if timed_out else "could not connect"
        raise TransportFailure(f"{kind} ({type(cause).__name__})", timed_out=timed_out) from None
    except urllib3.exceptions.ReadTimeoutError:
        raise TransportFailure("timed out waiting for the answer", timed_out=True) from None
    except _BROKEN as error:
        name = type(root_cause(error)).__name__
        raise TransportFailure(f"connection failed ({name})", timed_out=False) from None
    try:
        return response.status, _read(response, started, deadline)
    except (_TooLarge, *_BROKEN) as error:
        if response.status >= 400:
            return response.status, b""  # the status says enough
        if isinstance(error, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            raise TransportFailure("timed out reading the answer", timed_out=True) from None
        name = (
            "answer larger than 1 MiB" if isinstance(error, _TooLarge) else type(root_cause(error)).__name__
        )
        raise TransportFailure(f"the answer broke off ({name})", timed_out=False) from None
    finally:
        if not response.closed:
            discard(response)


def _read(response: urllib3.BaseHTTPResponse, started: float, deadline: float) -> bytes:
    # A server that trickles bytes resets the read timeout with every chunk; the deadline bounds the call.
    # read1 returns what has arrived, where read(n) would wait for n bytes under the read timeout alone.
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() - started > deadline:
            raise TimeoutError("call deadline passed")
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
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
