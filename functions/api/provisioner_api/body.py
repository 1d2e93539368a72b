"""The POST body: JSON only, at most 64 KB, each field once, no NaN or Infinity."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from provisioner_core.errors import InvalidRequest, ProvisionerError

MAX_BODY_BYTES = 64 * 1024


class UnsupportedMediaType(ProvisionerError):
    pass


class PayloadTooLarge(ProvisionerError):
    pass


def read_json_body(content_type: str | None, body: str | None, is_base64: bool) -> Any:
    """The body as parsed JSON, or a typed error saying why not (415, 413 or 400)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    try:
        data = base64.b64decode(body or "", validate=True) if is_base64 else (body or "").encode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidRequest([{"field": "body", "message": "is not valid base64"}]) from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(data, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except DuplicateKey as duplicate:
        raise InvalidRequest(
            [{"field": duplicate.key, "message": "appears more than once in the body; give each field once"}]
        ) from None
    except (ValueError, RecursionError):
        raise InvalidRequest([{"field": "body", "message": "is not valid JSON"}]) from None


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of two equal keys, other parsers the first: which prefix would be granted
    # must not depend on the parser.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(name)
