"""The local stack's HTTP API as a client calls it, and what it says about a connection."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from provisioner_local.emulator import LocalStack


def http(
    stack: LocalStack, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON body) of one request to the stack's API; error statuses are answers too."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    request = urllib.request.Request(  # noqa: S310 - loopback URL of the local stack
        stack.api_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def record_of(stack: LocalStack, connection_id: str) -> dict[str, Any] | None:
    """The connection as GET /connections/{id} shows it; None when the API does not know it."""
    status, body = http(stack, "GET", f"/connections/{connection_id}")
    return body if status == 200 else None


def wait_for_status(
    stack: LocalStack, connection_id: str, wanted: set[str], deadline_s: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while True:
        status, record = http(stack, "GET", f"/connections/{connection_id}")
        if status == 200 and record["status"] in wanted:
            return dict(record)
        if time.monotonic() > deadline:
            raise AssertionError(f"{connection_id} never reached {wanted}: last {status} {record}")
        time.sleep(0.05)


def lifecycle(stack: LocalStack, connection_id: str, detail_type: str) -> list[dict[str, Any]]:
    """The connection's lifecycle events of one type. The flow writes the registry, then publishes: this
    waits for the first such event before counting."""
    stack.wait_for_event(
        detail_type,
        source="labellerr.provisioner",
        where=lambda e: e["detail"].get("connection_id") == connection_id,
    )
    return [
        e for e in stack.events(detail_type=detail_type)
        if e["source"] == "labellerr.provisioner" and e["detail"].get("connection_id") == connection_id
    ]  # fmt: skip
