"""The HTTP API's client: every request SigV4-signed for `execute-api`, with botocore's own signer.

The deployed API authorizes every route with AWS_IAM; the local stack accepts the same signed requests
unchecked. Credentials come from the standard chain (environment, profiles, SSO, instance roles) and are
read again for each request, so a long wait survives a refresh.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

from provisioner_ops.smoke_http import Answer, HttpFailure, send

SERVICE: Final = "execute-api"
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class ApiUnreachable(Exception):
    """No answer came from the API: the message names the URL tried and why."""


def signed_headers(
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
) -> dict[str, str]:
    """The request's headers with SigV4's (Authorization, X-Amz-Date, and the session token if any) added
    by botocore's SigV4Auth for `execute-api` in `region`."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    frozen = Credentials(credentials.access_key or "", credentials.secret_key or "", credentials.token)
    SigV4Auth(frozen, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


@dataclass(frozen=True)
class ApiClient:
    base_url: str
    region: str
    # Called for each request: a refreshed credential (SSO, assumed role) is picked up on the way.
    credentials: Callable[[], Credentials | ReadOnlyCredentials]

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Answer:
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        url = self.url(path)
        if query:
            url += "?" + "&".join(
                f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in query.items()
            )
        plain = {
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if body is not None else {}),
            **(headers or {}),
        }
        signed = signed_headers(method, url, body, plain, self.credentials(), self.region)
        try:
            return send(method, url, signed, body)
        except HttpFailure as failure:
            hint = (
                " (is the local stack running? `provisioner-local serve --env` starts one)"
                if is_loopback(url)
                else ""
            )
            raise ApiUnreachable(f"no answer from {url}: {_reason(failure)}{hint}") from None


def _reason(failure: HttpFailure) -> str:
    """HttpFailure says "METHOD URL: Kind: detail"; the URL is said already."""
    text = str(failure)
    _, _, reason = text.partition(": ")
    return reason or text


def connection_path(connection_id: str, *rest: str) -> str:
    tail = "".join(f"/{quote(part, safe='')}" for part in rest)
    return f"/connections/{quote(connection_id, safe='')}{tail}"
