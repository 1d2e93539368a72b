"""The request as it reaches the function: the payload format 2.0 event API Gateway builds from it."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

from provisioner_local.template import ACCOUNT_ID, HttpApiSpec, HttpRouteSpec

# Bodies of these types reach the function as text; everything else base64-encoded, as API Gateway does.
_TEXT_TYPES: Final = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/graphql",
    }
)
_CREDENTIAL_KEY = re.compile(r"Credential=([^/,\s]+)/")
# Hop-by-hop headers end at API Gateway's front end; the integration never sees them.
_HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "expect"})


def is_text_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def new_request_id() -> str:
    # API Gateway's look: 16 base64 characters.
    return base64.b64encode(secrets.token_bytes(11)).decode()


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str
    raw_query: str
    # In arrival order, names as sent; duplicates allowed.
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def build_event(
    api: HttpApiSpec,
    route: HttpRouteSpec,
    path_parameters: Mapping[str, str],
    request: Request,
    *,
    server_port: int,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends a Lambda integration for this request."""
    now = now or datetime.now(UTC)
    request_id = request_id or new_request_id()
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered in _HOP_BY_HOP:
            continue
        if lowered == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
            continue
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    # What API Gateway adds on its way to the integration.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers["x-forwarded-port"] = str(server_port)
    headers["x-forwarded-proto"] = "http"
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")
    domain = headers.get("host", f"127.0.0.1:{server_port}")

    query: dict[str, str] = {}
    for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": api.api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": api.stage_name,
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if route.iam_auth:
        # Unverified: no SigV4 check locally. The access key id as the caller sent it, the local account.
        match = _CREDENTIAL_KEY.search(headers.get("authorization", ""))
        context["authorizer"] = {
            "iam": {
                "accessKey": match.group(1) if match else None,
                "accountId": ACCOUNT_ID,
                "callerId": ACCOUNT_ID,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{ACCOUNT_ID}:root",
                "userId": ACCOUNT_ID,
            }
        }

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if request.body:
        text: str | None = None
        if is_text_content(headers.get("content-type")):
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event
