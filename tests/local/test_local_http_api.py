"""The HTTP API adapter without moto: routing, the 2.0 event, result translation, body limits."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from datetime import UTC, datetime

import pytest

from provisioner_local.http_api import (
    BadLambdaResponse,
    LocalHttpApi,
    Request,
    RouteTable,
    build_event,
    http_response,
    is_text_content,
)
from provisioner_local.template import HttpApiSpec, HttpRouteSpec


def _route(method, path, function="Fn", iam=False):
    return HttpRouteSpec(
        function_logical_id=function, event_id=f"{method}{path}", method=method, path=path, iam_auth=iam
    )


ROUTES = [
    _route("GET", "/things"),
    _route("GET", "/things/{id}"),
    _route("GET", "/things/special"),
    _route("ANY", "/things/{id}"),
    _route("GET", "/things/{id}/parts/{part}"),
    _route("ANY", "/{proxy+}"),
    _route("GET", "/a/{x}"),
    _route("GET", "/{y}/b"),
]


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/things", "GET /things", {}),
        ("GET", "/things/special", "GET /things/special", {}),
        ("GET", "/things/42", "GET /things/{id}", {"id": "42"}),
        ("PUT", "/things/42", "ANY /things/{id}", {"id": "42"}),
        ("GET", "/things/4%2F2", "GET /things/{id}", {"id": "4/2"}),
        ("GET", "/things/1/parts/2", "GET /things/{id}/parts/{part}", {"id": "1", "part": "2"}),
        ("GET", "/a/b", "GET /a/{x}", {"x": "b"}),
        ("POST", "/things", "ANY /{proxy+}", {"proxy": "things"}),
        ("GET", "/x/y/z", "ANY /{proxy+}", {"proxy": "x/y/z"}),
    ],
)
def test_most_specific_route_wins(method, path, route_key, params):
    route, matched = RouteTable(ROUTES).match(method, path)

    assert route.route_key == route_key
    assert matched == params


def test_default_route_catches_the_rest_and_no_route_is_none():
    default = HttpRouteSpec(function_logical_id="Fn", event_id="Default", method=None, path=None)
    table = RouteTable([_route("GET", "/x"), default])

    assert table.match("GET", "/x")[0].route_key == "GET /x"
    assert table.match("DELETE", "/anything/else")[0].route_key == "$default"
    assert RouteTable([_route("GET", "/x")]).match("GET", "/") is None
    assert RouteTable([_route("GET", "/x")]).match("GET", "/x/") is None


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/csv", True),
        ("application/vnd.api+json", True),
        ("application/octet-stream", False),
        ("image/png", False),
        ("application/x-www-form-urlencoded", False),
        (None, False),
    ],
)
def test_text_content_types(content_type, text):
    assert is_text_content(content_type) is text


API = HttpApiSpec(logical_id="Api", api_id="abc123defg", stage_name="$default", routes=())


def test_event_for_a_post_with_a_non_utf8_text_body():
    request = Request(
        method="POST",
        raw_path="/things",
        raw_query="",
        headers=[("Content-Type", "text/plain"), ("X-Forwarded-For", "10.0.0.1"), ("Host", "example.test")],
        body=b"\xff\xfe",
        source_ip="127.0.0.9",
    )
    now = datetime(2026, 3, 12, 19, 3, 58, 123000, tzinfo=UTC)

    event = build_event(
        API, _route("POST", "/things", iam=True), {}, request, server_port=8080, request_id="rid", now=now
    )

    assert event["body"] == base64.b64encode(b"\xff\xfe").decode()
    assert event["isBase64Encoded"] is True
    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert "cookies" not in event
    assert event["headers"]["x-forwarded-for"] == "10.0.0.1, 127.0.0.9"
    assert event["headers"]["x-forwarded-port"] == "8080"
    assert event["requestContext"]["time"] == "12/Mar/2026:19:03:58 +0000"
    assert event["requestContext"]["timeEpoch"] == 1773342238123
    assert event["requestContext"]["domainName"] == "example.test"
    assert event["requestContext"]["domainPrefix"] == "example"
    assert event["requestContext"]["requestId"] == "rid"
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] is None


@pytest.mark.parametrize(
    ("result", "status", "headers", "body"),
    [
        ({"a": 1}, 200, [("Content-Type", "application/json")], b'{"a": 1}'),
        ("hello", 200, [("Content-Type", "application/json")], b"hello"),
        (None, 200, [("Content-Type", "application/json")], b"null"),
        ([1, 2], 200, [("Content-Type", "application/json")], b"[1, 2]"),
        ({"statusCode": 204}, 204, [], b""),
        ({"statusCode": 200, "body": {"not": "a string"}}, 200, [], b'{"not": "a string"}'),
        (
            {"statusCode": 302, "headers": {"Location": "/x", "X-B": True}},
            302,
            [("Location", "/x"), ("X-B", "true")],
            b"",
        ),
    ],
)
def test_results_become_responses(result, status, headers, body):
    response = http_response(result)

    assert (response.status, response.headers, response.body) == (status, headers, body)


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "multiValueHeaders": {"x": "not a list"}},
    ],
)
def test_malformed_results_are_rejected(result):
    with pytest.raises(BadLambdaResponse):
        http_response(result)


@pytest.fixture
def small_api():
    calls = []

    def invoke(function, event):
        calls.append((function, event))
        if event["rawPath"].endswith("/fail"):
            return False, "KeyError"
        return True, {
            "size": len(base64.b64decode(event["body"]))
            if event.get("isBase64Encoded")
            else len(event.get("body", ""))
        }

    spec = HttpApiSpec(
        logical_id="Small",
        api_id="small00000",
        stage_name="v1",
        routes=(_route("POST", "/upload"), _route("GET", "/fail")),
    )
    api = LocalHttpApi(spec, invoke, max_body_bytes=16).start()
    yield api, calls
    api.stop()


def _post(api, path, body, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_named_stage_is_a_path_prefix(small_api):
    api, calls = small_api

    status, body = _post(api, "/v1/upload", b"0123456789", {"Content-Type": "text/plain"})

    assert (status, json.loads(body)) == (200, {"size": 10})
    event = calls[-1][1]
    assert event["rawPath"] == "/v1/upload"
    assert event["routeKey"] == "POST /upload"
    assert event["requestContext"]["stage"] == "v1"
    assert _post(api, "/upload", b"x")[0] == 404


def test_oversized_body_is_413_without_calling_the_function(small_api):
    api, calls = small_api

    status, body = _post(api, "/v1/upload", b"x" * 17)

    assert status == 413
    assert json.loads(body) == {"message": "Request Entity Too Large"}
    assert calls == []


def test_chunked_body_is_read_and_bounded(small_api):
    api, calls = small_api

    def chunked(*chunks):
        with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
            payload = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
            sock.sendall(
                b"POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + payload
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    assert chunked(b"abc", b"defg") == (200, b'{"size": 7}')
    assert calls[-1][1]["isBase64Encoded"] is True
    assert chunked(b"x" * 10, b"y" * 10)[0] == 413


def test_function_error_is_500(small_api):
    api, _ = small_api
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    connection.request("GET", "/v1/fail")
    response = connection.getresponse()

    assert response.status == 500
    assert json.loads(response.read()) == {"message": "Internal Server Error"}
    connection.close()
