"""The function's result as it leaves API Gateway: the HTTP response, and API Gateway's own error bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

NOT_FOUND: Final = {"message": "Not Found"}
INTERNAL_ERROR: Final = {"message": "Internal Server Error"}
TOO_LARGE: Final = {"message": "Request Entity Too Large"}
BAD_REQUEST: Final = {"message": "Bad Request"}


class BadLambdaResponse(ValueError):
    """The function's result is not a response API Gateway could send."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, payload: Mapping[str, Any]) -> Response:
    return Response(status, [("Content-Type", "application/json")], json.dumps(payload).encode())


def http_response(result: Any) -> Response:
    """API Gateway's reading of a payload 2.0 function result.

    A dict with `statusCode` is a response (`headers`, `multiValueHeaders`, `cookies`, `body`,
    `isBase64Encoded`); anything else is the body of a 200 application/json response (a string as it is,
    other values as JSON).
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return Response(200, [("Content-Type", "application/json")], text.encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise BadLambdaResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in dict(result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in dict(result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise BadLambdaResponse(f"multiValueHeaders[{name!r}] is not a list")
        headers += [(str(name), _header_value(value)) for value in values]
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise BadLambdaResponse("cookies is not a list")
    headers += [("Set-Cookie", str(cookie)) for cookie in cookies]
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body), validate=True)
        except ValueError as error:
            raise BadLambdaResponse("isBase64Encoded, but body is not base64") from error
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    return Response(status, headers, data)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
