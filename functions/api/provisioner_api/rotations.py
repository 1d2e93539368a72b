"""POST /connections/{id}/rotations and its confirm and rollback: the key rotation's doors in the API.

The work is in the layer (provisioner_core.rotation_requests), shared with the local CLI's `rotate`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from provisioner_api.listing import get_connection
from provisioner_core import rotation_requests
from provisioner_core.errors import ConnectionNotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

# The rotation id is the rotation execution's name.
_ROTATION_ID = re.compile(r"[a-z0-9-]{1,80}")


def _checked(rotation_id: str) -> str:
    if not _ROTATION_ID.fullmatch(rotation_id):
        raise ConnectionNotFound(f"rotation_id: no rotation {rotation_id!r}")
    return rotation_id


def start(
    dynamodb: DynamoDBClient, sfn: SFNClient, connection_id: str, state_machine_arn: str
) -> dict[str, Any]:
    get_connection(dynamodb, connection_id)  # 404 for an id that cannot exist
    return rotation_requests.start_rotation(dynamodb, sfn, connection_id, state_machine_arn)


def confirm(dynamodb: DynamoDBClient, connection_id: str, rotation_id: str) -> dict[str, Any]:
    get_connection(dynamodb, connection_id)
    return rotation_requests.confirm_rotation(dynamodb, connection_id, _checked(rotation_id))


def roll_back(dynamodb: DynamoDBClient, connection_id: str, rotation_id: str) -> dict[str, Any]:
    get_connection(dynamodb, connection_id)
    return rotation_requests.request_rollback(dynamodb, connection_id, _checked(rotation_id))
