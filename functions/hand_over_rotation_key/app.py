"""Hand over new key: let Labellerr test it, tell the consumer, then make it the secret's AWSCURRENT version.

Labellerr's connection test runs first (when the connection is registered there), so a key Labellerr would
refuse is never promoted. `handed_over_at` is written after every use this rotation makes of the new key
itself: a later use of the key (GetAccessKeyLastUsed) can only be the consumer's. Promotion leaves the old
version AWSPREVIOUS, as Secrets Manager's own rotation does. The Pending event is best-effort, like every
lifecycle event: the secret itself is the hand-over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, registry, rotation
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.labellerr import (
    CONNECTION_TYPES_BY_ACCESS,
    LabellerrClient,
    S3Credentials,
)
from provisioner_core.labellerr_handoff import client_for, issued_key, test_key
from provisioner_core.lifecycle_events import publish
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.checks import LabellerrTest
    from provisioner_core.contracts.run_state import HandOverEvent
    from provisioner_core.contracts.step_results import HandOver, RotationKey, RotationStarted

logger = Logger()
SETTINGS = Settings.from_env()


def labellerr_tests(
    client: LabellerrClient, dynamodb: DynamoDBClient, key: S3Credentials, connection: Connection
) -> list[LabellerrTest]:
    return [
        test_key(client, dynamodb, key, connection, t)
        for t in CONNECTION_TYPES_BY_ACCESS[connection["access"]]
    ]


def hand_over_rotation_key(
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
    make_client: Any,
    started: RotationStarted,
    issued: RotationKey,
    execution_arn: str,
) -> HandOver:
    connection = started["connection"]
    connection_id = connection["connection_id"]
    tests: list[LabellerrTest] = []
    if (started.get("labellerr") or {}).get("registered"):
        tests = labellerr_tests(make_client(), dynamodb, issued_key(secrets, issued), connection)
    handed_over_at = registry.now()
    rotation.update(
        dynamodb, connection_id, execution_arn, {"stage": "HANDED_OVER", "handed_over_at": handed_over_at}
    )
    detail = {
        "connection_id": connection_id,
        "rotation_id": started["rotation_id"],
        "status": rotation.ROTATING,
        "new_access_key_id": issued["access_key_id"],
        "old_access_key_id": started["old_access_key_id"],
        "secret_arn": issued["secret_arn"],
        "secret_version_id": issued["version_id"],
        "adoption_days": started["timing"]["adoption_days"],
        "execution_arn": execution_arn,
    }
    published = publish(events, registry.event_bus_name(), rotation.DETAIL_TYPES["PENDING"], detail)
    rotation.make_current(secrets, issued["secret_arn"], issued["version_id"])
    promoted_at = registry.now()
    rotation.update(dynamodb, connection_id, execution_arn, {"stage": "PROMOTED", "promoted_at": promoted_at})
    return {
        "handed_over_at": handed_over_at,
        "promoted_at": promoted_at,
        "labellerr_tests": tests,
        "event_published": published,
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: HandOverEvent, context: LambdaContext) -> HandOver:
    secrets = aws.client("secretsmanager")
    result = hand_over_rotation_key(
        secrets,
        aws.client("dynamodb"),
        aws.client("events"),
        lambda: client_for(secrets, SETTINGS, lambda: context.get_remaining_time_in_millis() / 1000),
        event["rotation"],
        event["new_key"],
        event["execution_arn"],
    )
    logger.info("New key handed over", new_access_key_id=event["new_key"]["access_key_id"])
    return result
