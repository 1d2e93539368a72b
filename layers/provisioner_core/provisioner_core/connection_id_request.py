"""The input of the flows that act on an existing connection (offboarding, key rotation): exactly
{"connection_id": "..."}, refused by name otherwise."""

from __future__ import annotations

from typing import Any

from provisioner_core.errors import InvalidRequest
from provisioner_core.naming import CONNECTION_ID_MAX, CONNECTION_ID_PATTERN


def connection_id_of(request: Any) -> str:
    if not isinstance(request, dict) or set(request) - {"connection_id"}:
        raise InvalidRequest([{"field": "request", "message": 'must be exactly {"connection_id": "..."}'}])
    connection_id = request.get("connection_id")
    if (
        not isinstance(connection_id, str)
        or len(connection_id) > CONNECTION_ID_MAX
        or not CONNECTION_ID_PATTERN.fullmatch(connection_id)
    ):
        raise InvalidRequest(
            [{"field": "connection_id", "message": "required: lowercase letters, digits, single hyphens"}]
        )
    return connection_id
