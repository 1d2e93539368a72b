"""The HTTP API's edges, against the embedded local stack on 127.0.0.1: size, JSON, media type, routes.

Requests go out through http.client, so every header and byte is exactly what the test says (no default
Content-Type, no proxy). Whatever is sent, the answer is never a 5xx, and an error answered by the API's
function is always JSON `{"errors": [{"field", "message"}, ...]}`.

Unknown routes and methods are answered by API Gateway before the function (the template routes only the
documented method/path pairs), with 404 `{"message": "Not Found"}`: the document declares no 405.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"

pytestmark = pytest.mark.fuzz


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    api_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
) -> Answer:
    target = urlsplit(api_url)
    assert target.hostname == "127.0.0.1", api_url
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    try:
        if chunked:
            connection.request(
                method, path, body=iter([body or b""]), headers=headers or {}, encode_chunked=True
            )
        else:
            connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def post(api_url: str, body: bytes, content_type: str | None = JSON, **kwargs: Any) -> Answer:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return send(api_url, "POST", "/connections", body, headers, **kwargs)


def assert_errors(answer: Answer, status: int) -> list[dict[str, str]]:
    """`answer` is `status` with a JSON {"errors": [{"field", "message"}, ...]} body; returns the errors."""
    assert answer.status < 500, (answer.status, answer.body[:300])
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers.get_content_type() == JSON, answer.headers.get("Content-Type")
    body = answer.json()
    assert set(body) == {"errors"}, body
    assert isinstance(body["errors"], list)
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "message"}, error
        assert isinstance(error["field"], str)
        assert error["field"]
        assert isinstance(error["message"], str)
        assert error["message"].strip()
    return body["errors"]


def fields(errors: list[dict[str, str]]) -> set[str]:
    return {error["field"] for error in errors}


def padded_object(size: int) -> bytes:
    """A JSON object of exactly `size` bytes that names no bucket (so it is answered 400 when it is read)."""
    head, tail = b'{"connection_name": "Edge"', b"}"
    return head + b" " * (size - len(head) - len(tail)) + tail


# --- size ---------------------------------------------------------------------------------------------


def test_a_body_of_exactly_64_kb_is_read_and_validated(api_url):
    errors = assert_errors(post(api_url, padded_object(MAX_BODY_BYTES)), 400)
    assert fields(errors) == {"s3_uri"}


@pytest.mark.parametrize(
    "size", [MAX_BODY_BYTES + 1, 2 * MAX_BODY_BYTES, 1024 * 1024], ids=["64KB+1", "128KB", "1MB"]
)
def test_a_body_over_64_kb_is_a_413(api_url, size):
    errors = assert_errors(post(api_url, padded_object(size)), 413)
    assert fields(errors) == {"body"}


def test_a_chunked_body_over_64_kb_is_a_413(api_url):
    errors = assert_errors(post(api_url, padded_object(MAX_BODY_BYTES + 1), chunked=True), 413)
    assert fields(errors) == {"body"}


def test_a_body_over_64_kb_that_is_not_utf8_is_a_413(api_url):
    # Not text, so it reaches the function base64-encoded; the limit is on the bytes sent.
    errors = assert_errors(post(api_url, b"\xff" * (MAX_BODY_BYTES + 1)), 413)
    assert fields(errors) == {"body"}


# --- not JSON, or not an object -----------------------------------------------------------------------

INVALID_JSON = {
    "empty": b"",
    "unterminated": b"{",
    "single quotes": b"{'connection_name': 'x'}",
    "trailing comma": b'{"connection_name": "x",}',
    "NaN": b"NaN",
    "Infinity": b'{"connection_name": Infinity}',
    "not utf-8": b'{"connection_name": "\xff"}',
    "5,000-digit number": b'{"connection_name": ' + b"1" * 5000 + b"}",
    "nested 30,000 deep": b'{"connection_name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    "two documents": b"{} {}",
    "control character in a string": b'{"connection_name": "a\x01b"}',
}


@pytest.mark.parametrize("body", INVALID_JSON.values(), ids=INVALID_JSON.keys())
def test_a_body_that_is_not_json_is_a_400(api_url, body):
    errors = assert_errors(post(api_url, body), 400)
    assert fields(errors) == {"body"}


NOT_AN_OBJECT = {
    "array": b"[]",
    "array of an object": b'[{"connection_name": "x", "bucket": "acme-datasets"}]',
    "string": b'"connection"',
    "number": b"42",
    "true": b"true",
    "null": b"null",
}


@pytest.mark.parametrize("body", NOT_AN_OBJECT.values(), ids=NOT_AN_OBJECT.keys())
def test_json_that_is_not_an_object_is_a_400(api_url, body):
    errors = assert_errors(post(api_url, body), 400)
    assert fields(errors) == {"body"}
    assert "object" in errors[0]["message"]


# --- media type ---------------------------------------------------------------------------------------

WRONG_MEDIA_TYPES = [
    "text/plain",
    None,
    "",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/json",
    "application/jsonx",
    "application/merge-patch+json",
    "application/octet-stream",
]


@pytest.mark.parametrize("content_type", WRONG_MEDIA_TYPES, ids=lambda value: repr(value))
@pytest.mark.parametrize(
    "body", [b'{"connection_name": "Edge", "bucket": "acme-datasets"}', b""], ids=["JSON", "empty"]
)
def test_a_body_that_is_not_declared_application_json_is_a_415(api_url, content_type, body):
    errors = assert_errors(post(api_url, body, content_type), 415)
    assert fields(errors) == {"Content-Type"}


def test_an_oversized_body_of_the_wrong_media_type_is_refused_either_way(api_url):
    answer = post(api_url, padded_object(MAX_BODY_BYTES + 1), "text/plain")
    assert_errors(answer, 415)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", " application/json "]
)
def test_application_json_is_recognized_in_any_case_and_with_parameters(api_url, content_type):
    errors = assert_errors(post(api_url, b'{"connection_name": "Edge"}', content_type), 400)
    assert fields(errors) == {"s3_uri"}


# --- routes and methods -------------------------------------------------------------------------------

UNROUTED = [
    ("GET", "/"),
    ("GET", "/nowhere"),
    ("GET", "/Connections"),
    ("GET", "/connections/"),
    ("GET", "/connections/a/b"),
    ("GET", "/openapi.json/"),
    ("GET", "/openapi.yaml"),
    ("PUT", "/connections"),
    ("PATCH", "/connections"),
    ("DELETE", "/connections"),
    ("OPTIONS", "/connections"),
    ("POST", "/connections/some-id"),
    ("PUT", "/connections/some-id"),
    ("PATCH", "/connections/some-id"),
    ("POST", "/openapi.json"),
    ("DELETE", "/openapi.json"),
]
UNROUTED_IDS = [f"{method} {path}" for method, path in UNROUTED]
# Methods outside HTTP's usual set, which http.server alone would answer with an HTML 501.
UNHANDLED_METHODS = [("TRACE", "/connections"), ("CONNECT", "/connections"), ("PROPFIND", "/connections/x")]


@pytest.mark.parametrize(("method", "path"), UNROUTED, ids=UNROUTED_IDS)
def test_an_unknown_route_or_method_is_a_json_404(api_url, method, path):
    answer = send(api_url, method, path, b"{}", {"Content-Type": JSON})
    assert answer.status == 404, (answer.status, answer.body[:300])
    assert answer.headers.get_content_type() == JSON
    assert isinstance(answer.json(), dict)


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/connections/x/y"), ("HEAD", "/nowhere")])
def test_head_of_an_unknown_route_is_a_404(api_url, method, path):
    assert send(api_url, method, path).status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [pytest.param(*pair) for pair in UNHANDLED_METHODS],
    ids=[method for method, _ in UNHANDLED_METHODS],
)
def test_any_other_method_is_a_404_not_a_server_error(api_url, method, path):
    answer = send(api_url, method, path)
    assert answer.status == 404, (answer.status, answer.body[:300])
    assert answer.headers.get_content_type() == JSON


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nowhere"), ("PUT", "/connections"), ("POST", "/connections/some-id")]
)
def test_an_unknown_route_or_method_answers_the_documented_error_body(api_url, method, path):
    assert_errors(send(api_url, method, path, b"{}", {"Content-Type": JSON}), 404)


# --- the other errors the function answers ------------------------------------------------------------

FUNCTION_ERRORS = [
    ("GET", "/connections/" + "a" * 41, 404, "connection_id"),
    ("GET", "/connections/%00", 404, "connection_id"),
    ("GET", "/connections/%2e%2e", 404, "connection_id"),
    ("GET", "/connections/no-such-connection", 404, "connection_id"),
    ("DELETE", "/connections/no-such-connection", 404, "connection_id"),
    ("DELETE", "/connections/%E2%80%AE", 404, "connection_id"),
    ("GET", "/connections?limit=0", 400, "limit"),
    ("GET", "/connections?limit=1e2", 400, "limit"),
    ("GET", "/connections?limit=%EF%BC%91", 400, "limit"),
    ("GET", "/connections?status=active", 400, "status"),
    ("GET", "/connections?bucket=Not_A_Bucket", 400, "bucket"),
    ("GET", "/connections?next_token=%25%25%25", 400, "next_token"),
    ("GET", "/connections?next_token=e30%3D", 400, "next_token"),
    ("GET", "/connections?owner=me", 400, "owner"),
]


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    FUNCTION_ERRORS,
    ids=[f"{m} {p[:40]}" for m, p, _, _ in FUNCTION_ERRORS],
)
def test_the_functions_errors_name_the_field(api_url, method, path, status, field):
    errors = assert_errors(send(api_url, method, path), status)
    assert field in fields(errors), errors


@pytest.mark.parametrize(
    "key", ["", " ", "k" * 256, "caf\xe9"], ids=["empty", "space", "256 chars", "latin-1"]
)
def test_an_invalid_idempotency_key_is_a_400_naming_the_header(api_url, key):
    headers = {"Content-Type": JSON, "Idempotency-Key": key}
    body = b'{"connection_name": "Edge", "bucket": "labellerr-edge-no-such-bucket"}'
    errors = assert_errors(send(api_url, "POST", "/connections", body, headers), 400)
    assert "Idempotency-Key" in fields(errors), errors
