"""Key rotations of a connection: starting one, and watching the registry record move through its stages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from provisioner_core import registry, rotation
from provisioner_local.emulator import LocalStack
from tests.support.clients import Clients
from tests.support.executions import start


def record(c: Clients, connection_id: str) -> Mapping[str, Any]:
    """The connection's registry record, read from the table itself ({} when there is none)."""
    return registry.get(c.dynamodb, connection_id, c.stack.tables["ConnectionsTable"]) or {}


def wait_for_stage(c: Clients, connection_id: str, stage: str, deadline_s: float = 30) -> Mapping[str, Any]:
    """The record once its rotation has reached `stage`. On a stack with stepped Wait states the rotation's
    time passes one Wait at a time until then, and never past the stage: a test acts inside it."""
    deadline = time.monotonic() + deadline_s
    execution_arn = record(c, connection_id).get(rotation.HOLDER_FIELD)
    while True:
        # Parked before the record is read, so the record shows everything the run did before this Wait.
        parked = LocalStack.waits.parked(str(execution_arn)) if execution_arn else None
        current = record(c, connection_id)
        if (current.get("rotation") or {}).get("stage") == stage:
            return current
        assert time.monotonic() < deadline, (
            f"{connection_id} never reached {stage}: {current.get('rotation')}"
        )
        execution_arn = current.get(rotation.HOLDER_FIELD) or execution_arn
        if parked is None or not LocalStack.waits.release(parked):
            time.sleep(0.05)


def start_rotation(stack: LocalStack, sfn: Any, connection_id: str) -> str:
    """A rotation started on its state machine directly (not through the API); its execution ARN."""
    return start(
        sfn,
        stack.state_machines["RotateConnectionKeyStateMachine"],
        {"connection_id": connection_id},
        name=f"{connection_id}-rotation-{uuid.uuid4().hex[:6]}",
    )


def keys_on_user(iam: Any, user_name: str) -> dict[str, str]:
    """Access key id -> Active or Inactive, of every key the user has."""
    return {
        k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    }
