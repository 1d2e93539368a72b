"""The HTTP server of one API on 127.0.0.1: reading requests off the wire, and LocalHttpApi, which runs it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

from provisioner_local.http_api.event import Request, build_event, new_request_id
from provisioner_local.http_api.response import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    NOT_FOUND,
    TOO_LARGE,
    BadLambdaResponse,
    Response,
    http_response,
    json_response,
)
from provisioner_local.http_api.routing import RouteTable
from provisioner_local.template import HttpApiSpec

logger = logging.getLogger("provisioner_local.http")

# API Gateway's payload limit for HTTP APIs.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024

# (function logical id, event) -> (True, result) or (False, error type)
Invoke = Callable[[str, dict[str, Any]], tuple[bool, Any]]


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
            self._send(json_response(413, TOO_LARGE), close=True)
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
                    return json_response(400, BAD_REQUEST)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    return json_response(413, TOO_LARGE)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self._content_length()
        if length is None or length == 0:
            return b""
        if length < 0:
            return json_response(400, BAD_REQUEST)
        if length > limit:
            return json_response(413, TOO_LARGE)
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
            self.send_header("apigw-requestid", new_request_id())
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
            return json_response(404, NOT_FOUND)
        route, params = matched
        request_id = new_request_id()
        event = build_event(self.spec, route, params, request, server_port=self.port, request_id=request_id)
        ok, result = self._invoke(route.function_logical_id, event)
        if not ok:
            # The error type only: a message could quote the request.
            logger.warning("%s: %s failed with %s", route.route_key, route.function_logical_id, result)
            response = json_response(500, INTERNAL_ERROR)
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
                response = json_response(500, INTERNAL_ERROR)
        response.headers.append(("apigw-requestid", request_id))
        return response
