"""The API function called as Lambda calls it: API Gateway HTTP API events, a Lambda context, the answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import app as api
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_local.template import load_yaml

TEMPLATE = load_yaml(Path(__file__).resolve().parents[2] / "template.yaml")


class FakeContext:
    function_name = "ApiFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ApiFunction"
    aws_request_id = "11111111-2222-3333-4444-555555555555"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload-format-2.0 event; `body` is sent as JSON unless `raw_body` is given."""
    all_headers = {"content-type": "application/json"} if body is not None or raw_body is not None else {}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if text is not None and base64_body:
        text = base64.b64encode(text.encode()).decode()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1",
            "domainName": "api1.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2025:12:00:00 +0000",
            "timeEpoch": 1735732800000,
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = query
    if text is not None:
        event["body"] = text
    return event


def call(event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    response = api.lambda_handler(event, cast(LambdaContext, FakeContext()))
    body = json.loads(response["body"]) if response.get("body") else None
    return response["statusCode"], body, response.get("headers", {})
