"""HTTP for the Labellerr client with the stdlib only: separate connect and read timeouts, a whole-call
deadline, no redirects, and multipart/form-data encoded by hand. Knows nothing of Labellerr's answers."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from typing import Any, Final

MAX_BODY: Final = 1 << 20
_CHUNK = 65536


class TransportFailure(Exception):
    """No HTTP answer: `reason` is safe to show (an exception class name, never request data)."""

    def __init__(self, reason: str, *, timed_out: bool) -> None:
        self.reason = reason
        self.timed_out = timed_out
        super().__init__(reason)


class _TimedHTTPSConnection(http.client.HTTPSConnection):
    """Connects (TCP, proxy tunnel, TLS) under the connect timeout, then reads under the read timeout."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self._read_timeout)


class _TimedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self._read_timeout)


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
