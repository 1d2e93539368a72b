"""An ACTIVE connection as onboarding leaves it (user, key, secret, record), for the rotation steps' tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from functions.begin_rotation.app import begin_rotation
from functions.issue_access_key.app import issue_access_key
from functions.register_connection.app import register_connection
from provisioner_core import registry
from provisioner_core.connection import Connection, ownership_tags
from provisioner_core.contracts.step_results import RotationStarted
from provisioner_core.rotation import RotationTiming

ROTATION_ARN = "arn:aws:states:us-east-1:123456789012:execution:labellerr-provisioner-rotate:rot-1"
TIMING = RotationTiming(adoption_days=1, grace_days=1, check_seconds=21600)  # 4 checks each


@dataclass
class Active:
    connection: Connection
    access_key_id: str
    secret_arn: str


def make_active(iam: Any, secrets: Any, dynamodb: Any, connection: Connection) -> Active:
    iam.create_user(
        UserName=connection["iam_user_name"], Path=connection["iam_path"], Tags=ownership_tags(connection)
    )
    issued = issue_access_key(iam, secrets, connection, retry_count=0)
    register_connection(dynamodb, connection)
    registry.update(
        dynamodb,
        connection["connection_id"],
        {
            "status": "ACTIVE",
            "access_key_id": issued["access_key_id"],
            "secret_arn": issued["secret_arn"],
            "cors": {"applied": True, "rule_id": f"labellerr-{connection['connection_id']}"},
            "activated_at": registry.now(),
        },
        owner_field="execution_arn",
        owner=connection["execution_arn"],
    )
    return Active(connection, issued["access_key_id"], issued["secret_arn"])


def begin(iam: Any, secrets: Any, dynamodb: Any, active: Active, arn: str = ROTATION_ARN) -> RotationStarted:
    started = begin_rotation(
        dynamodb,
        iam,
        secrets,
        {"connection_id": active.connection["connection_id"]},
        arn,
        arn.split(":")[-1],
        TIMING,
    )
    assert started["refused"] is False, started
    return cast(RotationStarted, started)
