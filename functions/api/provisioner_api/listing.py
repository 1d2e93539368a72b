"""GET /connections and GET /connections/{id}: the registry's records, filtered and paged."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from provisioner_api.shapes import ConnectionPage, ConnectionRecord
from provisioner_core import registry
from provisioner_core.errors import ConnectionNotFound, InvalidRequest
from provisioner_core.naming import CONNECTION_ID_MAX, CONNECTION_ID_PATTERN, bucket_name_problem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from provisioner_core.contracts.records import Record

LIST_LIMIT_DEFAULT = 25
LIST_LIMIT_MAX = 100
LIST_PARAMETERS = ("bucket", "status", "health", "limit", "next_token")
# A status or health filter is applied after DynamoDB's Limit; a few reads fill the page without
# unbounded work.
MAX_LIST_READS = 5


def _token_problem(token: str, bucket: str | None) -> str | None:
    """Why `token` is not a next_token this listing issued; a forged key would reach DynamoDB otherwise."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, RecursionError):
        key = None
    expected = {"connection_id", "bucket"} if bucket else {"connection_id"}
    if (
        not isinstance(key, dict)
        or set(key) != expected
        or not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
        or (bucket and key["bucket"]["S"] != bucket)
        # DynamoDB rejects an empty or oversized key value; that would be a 500, not the caller's 400.
        or not _plausible_id(key["connection_id"]["S"])
    ):
        return "is not a next_token of this listing (same bucket filter); start without it"
    return None


def list_connections(dynamodb: DynamoDBClient, query: Mapping[str, str]) -> ConnectionPage:
    # `?bucket=` (empty) means no filter, as a form with an empty field sends it.
    params = {key: value for key, value in query.items() if value != ""}
    problems = [
        {"field": key, "message": "unknown query parameter; allowed: " + ", ".join(LIST_PARAMETERS)}
        for key in params
        if key not in LIST_PARAMETERS
    ]
    bucket, status, token = params.get("bucket"), params.get("status"), params.get("next_token")
    if bucket is not None and (problem := bucket_name_problem(bucket)):
        problems.append({"field": "bucket", "message": problem})
    if status is not None and status not in registry.STATUSES:
        problems.append({"field": "status", "message": "must be one of " + ", ".join(registry.STATUSES)})
    health = params.get("health")
    if health is not None and health not in registry.HEALTH_STATUSES:
        problems.append(
            {"field": "health", "message": "must be one of " + ", ".join(registry.HEALTH_STATUSES)}
        )
    raw_limit = params.get("limit", str(LIST_LIMIT_DEFAULT))
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3 else 0
    if not 1 <= limit <= LIST_LIMIT_MAX:
        problems.append({"field": "limit", "message": f"must be an integer from 1 to {LIST_LIMIT_MAX}"})
    if token is not None and (problem := _token_problem(token, bucket)):
        problems.append({"field": "next_token", "message": problem})
    if problems:
        raise InvalidRequest(problems)
    connections: list[ConnectionRecord] = []
    for _ in range(MAX_LIST_READS):
        page, token = registry.list_page(
            dynamodb,
            bucket=bucket,
            status=status,
            health=health,
            limit=limit - len(connections),
            next_token=token,
        )
        connections += [public(record) for record in page]
        if token is None or len(connections) >= limit:
            break
    return {"connections": connections, "next_token": token}


def get_connection(dynamodb: DynamoDBClient, connection_id: str) -> ConnectionRecord:
    record = registry.get(dynamodb, connection_id) if _plausible_id(connection_id) else None
    if record is None:
        raise ConnectionNotFound(f"no connection {connection_id!r}")
    return public(record)


def public(record: Record) -> ConnectionRecord:
    """A registry record as GET answers it: the same JSON, of which ConnectionRecord (the OpenAPI schema)
    documents the fields a caller may rely on."""
    return cast(ConnectionRecord, record)


def _plausible_id(connection_id: str) -> bool:
    # Anything else cannot be in the registry, and an oversized key would be a DynamoDB error, not a 404.
    return len(connection_id) <= CONNECTION_ID_MAX and bool(CONNECTION_ID_PATTERN.fullmatch(connection_id))
