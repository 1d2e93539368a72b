"""The smoke check's HTTP: SigV4-signed calls to the stack's HTTP API, and an unsigned CORS preflight.

The deployed API authorizes every route with AWS_IAM, so each request is signed for `execute-api` with the
caller's credentials (botocore's SigV4Auth); the local stack accepts the same signed requests unchecked.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TIMEOUT_SECONDS: Final = 30.0
_MAX_BODY: Final = 1 << 20
_API_HOST_REGION: Final = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class HttpFailure(Exception):
    """No answer came (refused, timed out, not a URL): the message says which request and why."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def send(method: str, url: str, headers: Mapping[str, str], body: bytes | None = None) -> Answer:
    """One request, no redirects followed; header names lower-case, the body parsed when it is JSON."""
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(parts.netloc, timeout=TIMEOUT_SECONDS, context=context)
    elif parts.scheme == "http":
        connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT_SECONDS)
    else:
        raise HttpFailure(f"{method} {url}: not an http(s) URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
        raw = response.read(_MAX_BODY)
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        raise HttpFailure(f"{method} {url}: {type(error).__name__}: {error}") from None
    finally:
        connection.close()
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    return Answer(status, parsed, answer_headers)


def api_region(api_url: str, fallback: str | None) -> str | None:
    """The region to sign for: the one in an execute-api host name, else `fallback`."""
    match = _API_HOST_REGION.search(urlsplit(api_url).hostname or "")
    return match.group(1) if match else fallback


@dataclass(frozen=True)
class SignedApi:
    base_url: str
    credentials: Credentials
    region: str

    def call(
        self, method: str, path: str, payload: Any = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        request = AWSRequest(
            method=method,
            url=self.base_url.rstrip("/") + path,
            data=body,
            headers={
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if body is not None else {}),
                **(headers or {}),
            },
        )
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(request)
        return send(method, str(request.url), dict(request.headers.items()), body)

    def connection_path(self, connection_id: str) -> str:
        return f"/connections/{quote(connection_id, safe='')}"


def object_url(bucket: str, key: str, region: str, endpoint: str | None) -> str:
    """Where a browser sends its requests: path-style on an endpoint override (the local stack), otherwise
    the bucket's regional virtual host (path-style there for a dotted name, which TLS cannot host)."""
    path = quote(key, safe="/~")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{path}"
    if "." in bucket:
        return f"https://s3.{region}.amazonaws.com/{bucket}/{path}"
    return f"https://{bucket}.s3.{region}.amazonaws.com/{path}"


def cors_preflight(url: str, origin: str, method: str = "GET", request_headers: str = "range") -> Answer:
    """The browser's unsigned OPTIONS before a ranged GET from `origin`."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": request_headers,
    }
    return send("OPTIONS", url, headers)
