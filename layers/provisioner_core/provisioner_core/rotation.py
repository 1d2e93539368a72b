"""A connection's key rotation as its steps share it: stages, timing, the secret's versions, the record.

The stages, in order: STARTED, NEW_KEY_ISSUED, HANDED_OVER, PROMOTED, ADOPTED, OLD_KEY_INACTIVE; then one of
ROTATED, FAILED, ROLLED_BACK, STALLED or INTERRUPTED ends it.

The record says where a rotation stands (`rotation.stage`); every step writes it only while the record is
ROTATING for its own execution, so an offboarding that took the connection over is never overwritten. The
API's signals (a confirmation, a rollback request) live in fields of their own, which no step writes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from provisioner_core import registry
from provisioner_core.connection import Connection

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.records import Record
    from provisioner_core.contracts.step_results import RotationTimingState

ROTATING = "ROTATING"
DETAIL_TYPES = {
    "PENDING": "Connection Key Rotation Pending",
    "ROTATED": "Connection Key Rotated",
    "STALLED": "Connection Key Rotation Stalled",
    "FAILED": "Connection Key Rotation Failed",
    "ROLLED_BACK": "Connection Key Rotation Rolled Back",
    "INTERRUPTED": "Connection Key Rotation Interrupted",
}
# The fields of a record the API writes for a running rotation (never a step).
CONFIRMATION_FIELD = "rotation_confirmation"
ROLLBACK_REQUEST_FIELD = "rotation_rollback_request"
HOLDER_FIELD = "rotation_execution_arn"
SECONDS_PER_DAY = 86400
# IAM's CreateDate and the Lambda's clock may disagree by a little.
CLOCK_SKEW = timedelta(seconds=5)
# A Standard execution's history holds at most 25,000 events (Step Functions quotas), and the rotation
# fails when it runs out. A turn of the adoption or grace loop adds 9 (check task 5, choice 2, wait 2), and
# 42 more when its invocation is retried to the limit (Lambda's errors, AWS failures, throttling). At most
# MAX_CHECKS checks in the two loops together keeps even that worst case, with the rest of the run, under
# 20,000: tests/unit/test_rotation_history.py counts it from the ASL. A KeyRotationCheckSeconds too short
# for the periods is stretched to fit.
MAX_CHECKS = 350
_CONNECTION_FIELDS = tuple(Connection.__annotations__)


@dataclass(frozen=True)
class RotationTiming:
    """How long the consumer gets to adopt the new key, how long the old one stays inactive, how often
    the rotation looks. The loops count checks rather than reading the clock: a Wait loop's checks add up
    to the period in AWS, and the local stack's shortened waits shorten the period with them."""

    adoption_days: float = 7.0
    grace_days: float = 3.0
    check_seconds: int = 3600

    @classmethod
    def from_env(cls) -> RotationTiming:
        return cls(
            adoption_days=float(os.environ.get("KEY_ROTATION_ADOPTION_DAYS", "7")),
            grace_days=float(os.environ.get("KEY_ROTATION_GRACE_DAYS", "3")),
            check_seconds=max(1, int(float(os.environ.get("KEY_ROTATION_CHECK_SECONDS", "3600")))),
        )

    def interval_seconds(self) -> int:
        """The seconds between checks: check_seconds, or longer when the periods would need more than
        MAX_CHECKS checks."""
        period = (self.adoption_days + self.grace_days) * SECONDS_PER_DAY
        # Each loop's count is rounded up and the adoption loop checks at least once: room for 3 more.
        return max(self.check_seconds, math.ceil(period / (MAX_CHECKS - 3)))

    def checks_in(self, days: float) -> int:
        return max(0, math.ceil(days * SECONDS_PER_DAY / self.interval_seconds()))

    def as_state(self) -> RotationTimingState:
        return {
            "adoption_days": self.adoption_days,
            "grace_days": self.grace_days,
            # What both loops' Wait states wait.
            "check_seconds": self.interval_seconds(),
            "adoption_checks": max(1, self.checks_in(self.adoption_days)),
            "grace_checks": self.checks_in(self.grace_days),
        }


def connection_from_record(record: Mapping[str, Any]) -> Connection:
    """The connection as the onboarding steps carried it, rebuilt from its record (it holds every field)."""
    return {key: record[key] for key in _CONNECTION_FIELDS if key in record}  # type: ignore[return-value]


def version_stages(secrets: SecretsManagerClient, secret_id: str) -> dict[str, list[str]]:
    """Version id -> its staging labels (versions without a label are on their way out and not listed)."""
    described = secrets.describe_secret(SecretId=secret_id)
    return {v: list(s) for v, s in (described.get("VersionIdsToStages") or {}).items() if s}


def version_with(stages: dict[str, list[str]], label: str) -> str | None:
    return next((version for version, labels in stages.items() if label in labels), None)


def key_id_in_version(secrets: SecretsManagerClient, secret_id: str, version_id: str) -> str:
    """Which access key a version holds. The secret key is read into this invocation only, never returned."""
    value = secrets.get_secret_value(SecretId=secret_id, VersionId=version_id)["SecretString"]
    return str(json.loads(value)["access_key_id"])


def make_current(secrets: SecretsManagerClient, secret_id: str, version_id: str) -> None:
    """AWSCURRENT onto `version_id` (Secrets Manager moves AWSPREVIOUS to the version it leaves), and
    AWSPENDING off whichever version holds it: the end state of a promotion and of an undo alike."""
    stages = version_stages(secrets, secret_id)
    current = version_with(stages, "AWSCURRENT")
    if current != version_id:
        secrets.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage="AWSCURRENT",
            MoveToVersionId=version_id,
            # A secret with a value always has its AWSCURRENT version.
            RemoveFromVersionId=cast(str, current),
        )
    pending = version_with(stages, "AWSPENDING")
    if pending is not None:
        secrets.update_secret_version_stage(
            SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=pending
        )


def made_during(key: Mapping[str, Any], started: Mapping[str, Any]) -> bool:
    """Whether an access key (ListAccessKeys' metadata) was created after the rotation `started` began: only
    such a key can be this rotation's; an older one is somebody else's and is never deleted."""
    began = datetime.fromisoformat(str(started["started_at"]).replace("Z", "+00:00"))
    return bool(key["CreateDate"] >= began - CLOCK_SKEW)


def update(
    dynamodb: DynamoDBClient, connection_id: str, execution_arn: str, changes: dict[str, Any], **fields: Any
) -> Record:
    """Merge `changes` into the record's `rotation`, and set `fields`, while this execution's rotation
    holds the record (ConnectionBusy otherwise). Only this rotation's steps write `rotation`, one at a
    time, so reading it first cannot lose a write."""
    current = registry.get(dynamodb, connection_id)
    rotation = {**((current.get("rotation") if current else None) or {}), **changes}
    return registry.update(
        dynamodb,
        connection_id,
        {"rotation": rotation, **fields},
        owner_field=HOLDER_FIELD,
        owner=execution_arn,
        also={"status": ROTATING},
    )


def signal_for(record: Mapping[str, Any], field: str, rotation_id: str) -> str | None:
    """When the API signalled this rotation (`at`), or None; a signal for an earlier rotation is ignored."""
    signal = record.get(field) or {}
    return str(signal["at"]) if signal.get("rotation_id") == rotation_id and signal.get("at") else None
