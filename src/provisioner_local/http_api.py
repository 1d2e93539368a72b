"""API Gateway HTTP APIs on 127.0.0.1: routes from the template, payload format 2.0, in-process handlers.

Each AWS::Serverless::HttpApi gets a small threaded HTTP server. A request is matched to a route the way API
Gateway does (most specific path first, a method before ANY, `$default` last), turned into a payload format
2.0 event, handed to the route's function, and the function's result turned back into an HTTP response.

Not emulated: authorization. The deployed API may require SigV4 (AWS_IAM); locally no signature is checked and
any caller gets through. For routes with AWS_IAM auth the event still carries `requestContext.authorizer.iam`,
filled from the request's `Authorization` header (access key id only, unverified) and the local account.
Also not emulated: CORS preflight handling, custom domains, throttling, the 30 s integration timeout, and
OpenAPI `DefinitionBody` routes (only the functions' `HttpApi` events make routes).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from provisioner_local.template import ACCOUNT_ID, HttpApiSpec, HttpRouteSpec

logger = logging.getLogger("provisioner_local.http")

# API Gateway's payload limit for HTTP APIs.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024

NOT_FOUND: Final = {"message": "Not Found"}
INTERNAL_ERROR: Final = {"message": "Internal Server Error"}
TOO_LARGE: Final = {"message": "Request Entity Too Large"}
BAD_REQUEST: Final = {"message": "Bad Request"}

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

# (function logical id, event) -> (True, result) or (False, error type)
Invoke = Callable[[str, dict[str, Any]], tuple[bool, Any]]


class BadLambdaResponse(ValueError):
    """The function's result is not a response API Gateway could send."""


# --- routing


@dataclass(frozen=True)
class _Compiled:
    route: HttpRouteSpec
    # ("lit", text) | ("param", name) | ("greedy", name)
    segments: tuple[tuple[str, str], ...]

    @property
    def priority(self) -> tuple[Any, ...]:
        # Lower sorts first: literal segments before {param} before {greedy+}, left to right; then a
        # named method before ANY; $default after everything.
        if self.route.method is None:
            return (1, (), 0)
        kinds = {"lit": 0, "param": 1, "greedy": 2}
        return (0, tuple(kinds[kind] for kind, _ in self.segments), int(self.route.method == "ANY"))

    def match(self, method: str, segments: Sequence[str]) -> dict[str, str] | None:
        if self.route.method is None:
            return {}
        if self.route.method not in ("ANY", method):
            return None
        params: dict[str, str] = {}
        for index, (kind, text) in enumerate(self.segments):
            if kind == "greedy":
                rest = segments[index:]
                if not rest or not any(rest):
                    return None
                params[text] = unquote("/".join(rest))
                return params
            if index >= len(segments):
                return None
            if kind == "lit":
                if segments[index] != text:
                    return None
            elif not segments[index]:
                return None
            else:
                params[text] = unquote(segments[index])
        return params if len(segments) == len(self.segments) else None


def _compile(route: HttpRouteSpec) -> _Compiled:
    if route.path is None:
        return _Compiled(route=route, segments=())
    segments: list[tuple[str, str]] = []
    for segment in route.path.split("/")[1:]:
        if segment.startswith("{") and segment.endswith("+}"):
            segments.append(("greedy", segment[1:-2]))
        elif segment.startswith("{") and segment.endswith("}"):
            segments.append(("param", segment[1:-1]))
        else:
            segments.append(("lit", segment))
    return _Compiled(route=route, segments=tuple(segments))


class RouteTable:
    """API Gateway HTTP API route selection for one API."""

    def __init__(self, routes: Iterable[HttpRouteSpec]) -> None:
        self._routes = sorted((_compile(route) for route in routes), key=lambda compiled: compiled.priority)

    def match(self, method: str, path: str) -> tuple[HttpRouteSpec, dict[str, str]] | None:
        segments = path.split("/")[1:] if path.startswith("/") else [path]
        for compiled in self._routes:
            params = compiled.match(method.upper(), segments)
            if params is not None:
                return compiled.route, params
        return None


# --- the event


def is_text_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def _request_id() -> str:
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
    request_id = request_id or _request_id()
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


# --- the response


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_response(status: int, payload: Mapping[str, Any]) -> Response:
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


# --- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: LocalHttpApi) -> None:
        self.api = api
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def __getattr__(self, name: str) -> Any:
        # API Gateway answers any method (a route, $default, or its 404), never http.server's HTML 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        length = self._content_length()
        if length is not None and length > self.server.api.max_body_bytes:
            self._send(_json_response(413, TOO_LARGE), close=True)
            return False
        return super().handle_expect_100()

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return -1

    def _read_body(self) -> bytes | Response:
        limit = self.server.api.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return _json_response(400, BAD_REQUEST)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    return _json_response(413, TOO_LARGE)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self._content_length()
        if length is None or length == 0:
            return b""
        if length < 0:
            return _json_response(400, BAD_REQUEST)
        if length > limit:
            return _json_response(413, TOO_LARGE)
        return self.rfile.read(length)

    def _handle(self) -> None:
        started = time.perf_counter()
        body = self._read_body()
        if isinstance(body, Response):
            # The rest of the body was not read: the connection cannot carry another request.
            self._send(body, close=True)
            return
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            raw_path=target.path or "/",
            raw_query=target.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        response = self.server.api.respond(request)
        self._send(response)
        logger.info(
            '"%s %s" %d %.0f ms',
            self.command,
            request.raw_path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )

    def _send(self, response: Response, *, close: bool = False) -> None:
        self.send_response(response.status)
        names = set()
        for name, value in response.headers:
            if name.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            names.add(name.lower())
            self.send_header(name, value)
        if "apigw-requestid" not in names:
            self.send_header("apigw-requestid", _request_id())
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)


class LocalHttpApi:
    """One HTTP API served on 127.0.0.1 (`url`, no trailing slash) until stop()."""

    def __init__(
        self,
        api: HttpApiSpec,
        invoke: Invoke,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.spec = api
        self.routes = RouteTable(api.routes)
        self.max_body_bytes = max_body_bytes
        self._invoke = invoke
        self._host = host
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> LocalHttpApi:
        self._server = _Server((self._host, self._requested_port), self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"http-api-{self.spec.logical_id}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _route_path(self, raw_path: str) -> str | None:
        """The path routes are matched on: a named stage's prefix removed (None when it is missing)."""
        if self.spec.stage_name == "$default":
            return raw_path
        prefix = f"/{self.spec.stage_name}"
        if raw_path == prefix:
            return "/"
        if raw_path.startswith(prefix + "/"):
            return raw_path[len(prefix) :]
        return None

    def respond(self, request: Request) -> Response:
        route_path = self._route_path(request.raw_path)
        matched = None if route_path is None else self.routes.match(request.method, route_path)
        if matched is None:
            return _json_response(404, NOT_FOUND)
        route, params = matched
        request_id = _request_id()
        event = build_event(self.spec, route, params, request, server_port=self.port, request_id=request_id)
        ok, result = self._invoke(route.function_logical_id, event)
        if not ok:
            # The error type only: a message could quote the request.
            logger.warning("%s: %s failed with %s", route.route_key, route.function_logical_id, result)
            response = _json_response(500, INTERNAL_ERROR)
        else:
            try:
                response = http_response(result)
            except BadLambdaResponse as error:
                logger.warning(
                    "%s: %s returned a malformed response: %s",
                    route.route_key,
                    route.function_logical_id,
                    error,
                )
                response = _json_response(500, INTERNAL_ERROR)
        response.headers.append(("apigw-requestid", request_id))
        return response
