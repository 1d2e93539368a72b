"""Check connection health: look, read-only, at one connection the way Labellerr uses it and at everything
the provisioner owns for it, and say what is wrong (provisioner_core.health_owned, health_access).

A connection that is not ACTIVE or ROTATING (being removed, never finished, gone) is not checked: its
record says what it is. The record itself is written by Record health, after any repair.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws, health, health_access, health_owned, key_access, registry
from provisioner_core.config import Settings
from provisioner_core.labellerr_handoff import client_for
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.connection import Connection
    from provisioner_core.contracts.health import HealthChecked, HealthCheckEvent, HealthFinding
    from provisioner_core.contracts.records import Record
    from provisioner_core.labellerr import LabellerrClient

logger = Logger()
SETTINGS = Settings.from_env()
CHECKED_STATUSES = ("ACTIVE", "ROTATING")


def check_record(
    record: Record,
    iam: IAMClient,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    make_labellerr: Callable[[], LabellerrClient],
    settings: Settings,
) -> list[HealthFinding]:
    key, secret_finding = health_owned.secret_key(secrets, record)
    findings: list[HealthFinding] = [secret_finding]
    owned = health_owned.user_findings(
        iam, record, key.access_key_id if key else None, settings.permissions_boundary_arn
    )
    findings += owned
    if any(f["check"] == "user" and f["outcome"] == "failed" for f in owned):
        # Without the user nothing else can work, and every further finding would only repeat it.
        return findings
    findings += health_owned.policy_findings(iam, record, settings)
    if key is None:
        return findings
    connection = cast("Connection", record)
    s3 = health_access.key_client(key, connection["region"])
    findings += health_access.access_findings(
        s3, dynamodb, connection, record.get("cors") or {}, key_access.probe_origins(settings)
    )
    labellerr: dict[str, Any] = record.get("labellerr") or {}
    if labellerr.get("registered"):
        findings += health_access.labellerr_findings(make_labellerr, dynamodb, key, connection, labellerr)
    return findings


def check_connection_health(
    connection_id: str,
    dynamodb: DynamoDBClient,
    iam: IAMClient,
    secrets: SecretsManagerClient,
    settings: Settings,
    now: datetime | None = None,
) -> HealthChecked:
    record = registry.get(dynamodb, connection_id)
    checked_at = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    if record is None or record.get("status") not in CHECKED_STATUSES:
        status = record.get("status") if record else "unknown"
        return {
            "connection_id": connection_id,
            "checked": False,
            "checked_at": checked_at,
            "skipped": f"the connection is {status}",
        }

    def make_labellerr() -> LabellerrClient:
        return client_for(secrets, settings)

    findings = check_record(record, iam, secrets, dynamodb, make_labellerr, settings)
    return {
        "connection_id": connection_id,
        "checked": True,
        "checked_at": checked_at,
        "status": health.status_of(findings),
        "findings": findings,
        "repairable": health.repairable(findings),
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: HealthCheckEvent, context: LambdaContext) -> HealthChecked:
    result = check_connection_health(
        event["connection_id"],
        aws.client("dynamodb"),
        aws.client("iam"),
        aws.client("secretsmanager"),
        SETTINGS,
    )
    logger.info(
        "Connection checked",
        connection_id=event["connection_id"],
        status=result.get("status"),
        problems=[f"{c}: {o}" for c, o in health.problems(result.get("findings") or [])],
    )
    return result
