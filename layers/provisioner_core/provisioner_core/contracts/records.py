"""The registry's record: one DynamoDB item per connection (provisioner_core.registry reads and writes it).

The flows add fields as they go, so every field but the id and the status may be absent (total=False).
Never key material: ids, names, ARNs, what the steps found.
"""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict

from provisioner_core.connection import Access, DataType
from provisioner_core.contracts.health import Health

Status = Literal[
    "PROVISIONING", "ACTIVE", "ROTATING", "FAILED", "ROLLBACK_FAILED", "DEPROVISIONING", "DELETED"
]  # fmt: skip


class RecordError(TypedDict):
    """Why a run failed: the run's error name and its cause (JSON)."""

    error: str
    cause: str


class RotationState(TypedDict, total=False):
    """Where a key rotation stands (provisioner_core.rotation): each stage adds its fields."""

    rotation_id: Required[str]
    execution_arn: Required[str]
    stage: Required[str]
    started_at: str
    old_access_key_id: str
    # The old key's status before the rotation touched it (Undo rotation puts it back exactly so).
    old_key_status: Literal["Active", "Inactive", "Expired"]
    old_version_id: str
    keys_at_start: list[str]
    adoption_days: float
    grace_days: float
    new_access_key_id: str | None
    new_version_id: str
    handed_over_at: str
    promoted_at: str
    adopted_at: str
    adopted_by: str
    new_key_last_used_at: str | None
    deactivated_at: str
    old_key_deleted_at: str
    ended_at: str
    note: str
    error: dict[str, str]


class Record(TypedDict, total=False):
    connection_id: Required[str]
    status: Required[Status]
    # The connection as Validate request made it (provisioner_core.connection.Connection).
    connection_name: str
    description: str
    bucket: str
    prefix: str
    s3_uri: str
    access: Access
    apply_cors: bool
    whole_bucket: bool
    region: str
    iam_user_name: str
    iam_path: str
    policy_name: str
    secret_name: str
    execution_arn: str
    encryption: dict[str, Any]
    bucket_policy: dict[str, Any]
    requester_pays: str
    register_in_labellerr: bool
    labellerr_data_type: DataType
    created_at: str
    updated_at: str
    # An onboarding's outcome (Record outcome).
    iam_user_arn: str
    policy_arn: str
    access_key_id: str
    secret_arn: str
    cors: dict[str, Any]
    verification: dict[str, Any]
    labellerr: dict[str, Any]
    activated_at: str
    error: RecordError
    left_behind: list[str]
    # An offboarding (claims.claim_offboarding, Record outcome).
    offboarding_execution_arn: str
    previous_status: Status
    deleted_at: str
    # Key rotations: the running one (the API's signals in fields no step writes), and the last one's end.
    rotation: RotationState
    rotation_execution_arn: str
    rotation_confirmation: dict[str, str]
    rotation_rollback_request: dict[str, str]
    key_rotated_at: str
    rotation_left_behind: list[str]
    # The last health check's verdict and findings (the health check state machine writes it).
    health: Health
