"""What each step returns: its Task's ResultPath puts it into the run state (run_state.py)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from provisioner_core.connection import Connection
from provisioner_core.contracts.checks import LabellerrTest, OperationCheck

# -- onboarding


# IAM's access key statuses (UpdateAccessKey's Status).
KeyStatus = Literal["Active", "Inactive", "Expired"]


class Validated(TypedDict):
    """Validate request (ResultPath `$`: the run state becomes this)."""

    connection: Connection


class Registration(TypedDict):
    """Register connection: `claimed` False (status TAKEN, with a cause) when another run holds the id."""

    claimed: bool
    status: Literal["PROVISIONING", "TAKEN"]
    claimed_at: NotRequired[str]
    cause: NotRequired[str]


class CreatedUser(TypedDict):
    user_name: str
    user_arn: str


class CreatedPolicy(TypedDict):
    policy_name: str
    policy_arn: str
    document_chars: int


class Attachment(TypedDict):
    user_name: str
    policy_arn: str


class CorsApplied(TypedDict):
    """Apply CORS, or the Skip CORS Pass state (applied False, with a reason)."""

    applied: bool
    rule_id: str | None
    rule_added: bool
    bucket_had_cors: NotRequired[bool]
    rules_total: NotRequired[int]
    reason: NotRequired[str]


class IssuedKey(TypedDict):
    """Issue access key: where the key is kept, never the key itself."""

    access_key_id: str
    secret_arn: str
    secret_name: str
    issued_at: str


class Verification(TypedDict):
    verified: bool
    as_user: str
    checks: list[OperationCheck]


class LabellerrConnectionMade(TypedDict):
    connection_type: str
    labellerr_connection_id: str
    reused: bool


class LabellerrTestReport(TypedDict):
    outcome: str
    checks: list[LabellerrTest]


class LabellerrRegistration(TypedDict):
    """Register in Labellerr, or the Skip Labellerr Pass state (registered False, with a reason)."""

    registered: bool
    labellerr_connection_ids: list[str]
    connections: NotRequired[list[LabellerrConnectionMade]]
    path: NotRequired[str]
    data_type: NotRequired[str]
    test: NotRequired[LabellerrTestReport]
    reason: NotRequired[str]


class PlanRefusal(TypedDict):
    """Plan onboarding's answer to an invalid request (a plan is provisioner_core.plan.Plan)."""

    planned: Literal[False]
    error: str
    cause: str
    errors: list[dict[str, str]]


# -- cleanup (Rollback, Remove connection, Undo rotation)


class CleanupReport(TypedDict):
    """One cleanup attempt (provisioner_core.cleanup.report): all removed so far, what is left, whether the
    state machine tries again."""

    complete: bool
    attempts: int
    retry: bool
    retry_in_seconds: int
    removed: list[str]
    left_behind: list[str]
    errors: list[str]
    not_touched: list[str]


class RollbackReport(CleanupReport):
    # `<Step>.<Error>` when everything was rolled back, else RollbackFailed; cause is JSON.
    error: str
    cause: str
    rolled_back: list[str]


class RemovalReport(CleanupReport):
    cause: str


class UndoReport(CleanupReport):
    reason: str
    current_access_key_id: str | None
    cause: str


# -- Record outcome


class LifecycleDetail(TypedDict):
    """A lifecycle event's detail (ids and ARNs only) and, with event_published, Record outcome's result."""

    connection_id: Any
    status: str
    bucket: Any
    prefix: Any
    s3_uri: Any
    access: Any
    iam_user_arn: Any
    secret_arn: Any
    execution_arn: str
    labellerr_connection_ids: NotRequired[list[str]]
    error: NotRequired[Any]
    left_behind: NotRequired[list[str]]
    removed: NotRequired[list[str]]


class RecordedOutcome(LifecycleDetail):
    event_published: bool
    cause: NotRequired[str]


# -- offboarding


class OffboardingBegun(TypedDict):
    """Begin offboarding: refused (error, cause), already deleted, or the record's footprint to remove."""

    connection_id: str | None
    refused: bool
    error: NotRequired[str]
    cause: NotRequired[str]
    already_deleted: NotRequired[bool]
    # The registry record's fields Remove connection needs (provisioner_core.contracts.records.Record).
    connection: NotRequired[dict[str, Any]]
    stopped_rotation: NotRequired[str | None]


# -- key rotation


class RotationTimingState(TypedDict):
    """provisioner_core.rotation.RotationTiming as the state carries it."""

    adoption_days: float
    grace_days: float
    check_seconds: int
    adoption_checks: int
    grace_checks: int


class RotationBegun(TypedDict):
    """Begin rotation: refused (error, cause), or the rotation started; every later step reads it."""

    connection_id: str | None
    refused: bool
    error: NotRequired[str]
    cause: NotRequired[str]
    rotation_id: NotRequired[str]
    started_at: NotRequired[str]
    old_access_key_id: NotRequired[str]
    # The old key's status before the rotation touched it: Undo rotation puts it back exactly so.
    old_key_status: NotRequired[KeyStatus]
    old_version_id: NotRequired[str]
    secret_arn: NotRequired[str]
    connection: NotRequired[Connection]
    cors: NotRequired[dict[str, Any]]
    labellerr: NotRequired[dict[str, Any]]
    timing: NotRequired[RotationTimingState]


class RotationStarted(TypedDict):
    """Begin rotation's result past the Choice on `refused`: what the rotation's steps receive."""

    connection_id: str
    refused: Literal[False]
    rotation_id: str
    started_at: str
    old_access_key_id: str
    old_key_status: NotRequired[KeyStatus]
    old_version_id: str
    secret_arn: str
    connection: Connection
    cors: dict[str, Any]
    labellerr: dict[str, Any]
    timing: RotationTimingState


class RotationKey(TypedDict):
    """Issue rotation key: the new key's id and the secret version (AWSPENDING) that holds it."""

    access_key_id: str
    secret_arn: str
    version_id: str
    version_stage: str


# The key a step checks or hands on, by its secret: Issue access key's, or a rotation's (its `version_id`
# names the secret version that holds it).
KeyInSecret = IssuedKey | RotationKey


class HandOver(TypedDict):
    handed_over_at: str
    promoted_at: str
    labellerr_tests: list[LabellerrTest]
    event_published: bool


class Adoption(TypedDict):
    """Check key adoption (and the Start adoption watch Pass state, checks_done 0 alone)."""

    abandoned: bool
    adopted: bool
    stalled: bool
    checks_done: int
    adopted_by: NotRequired[str | None]
    last_used_at: NotRequired[str | None]
    last_used_service: NotRequired[str | None]


class Deactivation(TypedDict):
    deactivated_at: str


class Grace(TypedDict):
    """Check rotation grace (and the Start grace Pass state, checks_done 0 alone)."""

    abandoned: bool
    rollback: bool
    over: bool
    checks_done: int
    rollback_requested_at: NotRequired[str | None]


class OldKeyDeletion(TypedDict):
    deleted_at: str


class DueRotations(TypedDict):
    """Start due rotations (scheduled, outside the state machines)."""

    started: list[str]
    already_started_today: list[str]
