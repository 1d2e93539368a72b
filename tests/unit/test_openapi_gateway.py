"""The OpenAPI document tells the gateway's own answers apart from the API's, and where the API is served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT: dict[str, Any] = json.loads((ROOT / "docs" / "openapi.json").read_text())
OPERATIONS = [
    (method, path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]
GATEWAY = {"$ref": "#/components/schemas/GatewayError"}
ERRORS = {"$ref": "#/components/schemas/Errors"}


def _schema(response: dict[str, Any]) -> dict[str, Any]:
    return response["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_every_operation_documents_what_the_gateway_answers(method, path, operation):
    responses = operation["responses"]
    # Only the gateway answers these: a missing or bad signature, its throttling.
    for status in ("403", "429"):
        assert _schema(responses[status]) == GATEWAY, (method, path, status)
    # The plan's own deadline is the API's 504; elsewhere only the gateway's integration timeout is.
    both = ("500", "503", "504") if path == "/connections/plan" else ("500", "503")
    if path != "/connections/plan":
        assert _schema(responses["504"]) == GATEWAY, (method, path)
    # Both answer these: the API with `errors`, the gateway with `message`.
    for status in both:
        assert _schema(responses[status]) == {"oneOf": [ERRORS, GATEWAY]}, (method, path, status)
    assert "Forbidden" in responses["403"]["description"]


def _validator(name: str) -> jsonschema.Validator:
    schema = {**DOCUMENT["components"]["schemas"][name], "$defs": DOCUMENT["components"]["schemas"]}
    text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
    return jsonschema.Draft202012Validator(json.loads(text))


@pytest.mark.parametrize(
    "body",
    [
        {"message": "Forbidden"},
        {"message": "Too Many Requests"},
        {"message": "Service Unavailable"},
        {"message": "Endpoint request timed out"},
        {"message": "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z"},
    ],
)
def test_the_gateways_bodies_are_gateway_errors_and_not_the_apis(body):
    assert _validator("GatewayError").is_valid(body)
    assert not _validator("Errors").is_valid(body)


def test_the_apis_error_bodies_are_not_gateway_errors():
    body = {"errors": [{"field": "bucket", "message": "no such bucket"}]}
    assert not _validator("GatewayError").is_valid(body)
    assert _validator("Errors").is_valid(body)


def test_the_server_is_the_http_apis_url_in_any_region_and_partition():
    [server] = DOCUMENT["servers"]
    assert server["url"] == "https://{apiId}.execute-api.{region}.{dnsSuffix}"
    assert set(server["variables"]) == {"apiId", "region", "dnsSuffix"}
    assert server["variables"]["dnsSuffix"]["default"] == "amazonaws.com"
    assert "amazonaws.com.cn" in server["variables"]["dnsSuffix"]["description"]
    for variable in server["variables"].values():
        assert variable["default"]
