"""Write the HTTP API's OpenAPI document from the code: docs/openapi.json and functions/api/openapi.json.

The routes come from the API function's resolver (Powertools' own OpenAPI generation, used only here so
it stays off the handler's import path); the request schema from ConnectionRequest; the response schemas
from the TypedDicts the handler returns. `--check` exits 1 when a written document is out of date.

    .venv/bin/python scripts/generate_openapi.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = (ROOT / "docs" / "openapi.json", ROOT / "functions" / "api" / "openapi.json")
TITLE = "Labellerr S3 connections"
VERSION = "1.0.0"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _routes(resolver: Any) -> dict[tuple[str, str], str]:
    """(method, OpenAPI path) -> summary of every route the resolver serves."""
    schema = resolver.get_openapi_schema(title=TITLE, version=VERSION)
    paths = schema.model_dump(by_alias=True, exclude_none=True)["paths"]
    return {
        (method, path): operation.get("summary", "")
        for path, item in paths.items()
        for method, operation in item.items()
        if method in METHODS
    }


def _schemas(api: Any) -> dict[str, Any]:
    from pydantic import TypeAdapter

    from provisioner_core.plan import Plan
    from provisioner_core.request import ConnectionRequest
    from scripts.openapi_operations import GATEWAY_ERROR, GATEWAY_SCHEMA, REF

    models = (
        ConnectionRequest,
        api.Accepted,
        api.ConnectionRecord,
        api.ConnectionPage,
        api.Errors,
        api.HealthCheckAccepted,
        api.RotationAccepted,
        api.RotationSignal,
        Plan,
    )
    top, definitions = TypeAdapter.json_schemas(
        [(model.__name__, "validation", TypeAdapter(model)) for model in models], ref_template=REF
    )
    schemas = dict(definitions.get("$defs", {}))
    for (name, _), schema in top.items():
        if "$ref" not in schema:
            schemas[name] = schema
    schemas[GATEWAY_ERROR] = GATEWAY_SCHEMA
    return dict(sorted(schemas.items()))


def build_document() -> dict[str, Any]:
    import app as api  # the API function, as Lambda imports it from functions/api/

    from provisioner_core.registry import HEALTH_STATUSES, STATUSES
    from scripts.openapi_operations import operations as documented

    routes = _routes(api.app)
    operations = documented(list(STATUSES), list(HEALTH_STATUSES))
    if set(routes) != set(operations):
        raise SystemExit(
            f"routes and documented operations differ: undocumented {sorted(set(routes) - set(operations))}, "
            f"no longer served {sorted(set(operations) - set(routes))}"
        )
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in operations.items():
        paths.setdefault(path, {})[method] = {"summary": routes[method, path], **operation}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Start, plan, read, list, check, repair and remove Labellerr S3 connections. "
            'Every error the API answers is `{"errors": [{"field", "message"}]}`; the gateway in front of it '
            'answers its own refusals and timeouts as `{"message": "..."}` (GatewayError: 403, 429, 500, '
            "503, 504). Every request must be signed with SigV4 (service `execute-api`).",
        },
        # The stack's ApiUrl output; the DNS suffix is the partition's (amazonaws.com.cn in China).
        "servers": [
            {
                "url": "https://{apiId}.execute-api.{region}.{dnsSuffix}",
                "description": "The HTTP API's default stage (the stack's ApiUrl output).",
                "variables": {
                    "apiId": {"default": "abcde12345", "description": "The HTTP API's id."},
                    "region": {"default": "us-east-1", "description": "The stack's region."},
                    "dnsSuffix": {
                        "default": "amazonaws.com",
                        "description": "The partition's DNS suffix: amazonaws.com.cn in the China regions.",
                    },
                },
            }
        ],
        "security": [{"sigv4": []}],
        "paths": paths,
        "components": {
            "schemas": _schemas(api),
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when a written document is out of date")
    args = parser.parse_args(argv)
    for path in (ROOT / "layers" / "provisioner_core", ROOT / "functions" / "api", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    text = render(build_document())
    stale = [path for path in OUTPUTS if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(
                f"{path.relative_to(ROOT)} is out of date: run scripts/generate_openapi.py", file=sys.stderr
            )
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
