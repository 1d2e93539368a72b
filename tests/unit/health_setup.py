"""An ACTIVE connection exactly as onboarding leaves it in IAM, Secrets Manager and the registry (user with its
tags, policy attached, key in its secret), for the health check's and the repair's tests."""

from __future__ import annotations

from typing import Any

from functions.attach_policy.app import attach_policy
from functions.create_policy.app import create_policy
from functions.create_user.app import create_user
from functions.issue_access_key.app import issue_access_key
from functions.register_connection.app import register_connection
from provisioner_core import registry
from provisioner_core.connection import Connection
from provisioner_core.contracts.records import Record
from tests.unit.conftest import SETTINGS


def onboarded(iam: Any, secrets: Any, dynamodb: Any, connection: Connection) -> Record:
    user = create_user(iam, connection, SETTINGS)
    policy = create_policy(iam, connection, SETTINGS)
    attach_policy(iam, user["user_name"], policy["policy_arn"])
    issued = issue_access_key(iam, secrets, connection, retry_count=0)
    register_connection(dynamodb, connection)
    return registry.update(
        dynamodb,
        connection["connection_id"],
        {
            "status": "ACTIVE",
            "iam_user_arn": user["user_arn"],
            "policy_arn": policy["policy_arn"],
            "access_key_id": issued["access_key_id"],
            "secret_arn": issued["secret_arn"],
            "cors": {
                "applied": True,
                "rule_id": f"labellerr-{connection['connection_id']}",
                "rule_added": True,
            },
            "activated_at": registry.now(),
        },
        owner_field="execution_arn",
        owner=connection["execution_arn"],
    )
