"""The run state of each flow, and what each Task receives: its Parameters in statemachine/*.asl.json.

A run state key is there once its state ran (its ResultPath): total=False. A Catch puts the caught error
(`CaughtError`) at its own ResultPath. `request` is the execution's input as received: untrusted until
Validate request (or Begin offboarding, Begin rotation) parsed it, so it stays `Any`.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from provisioner_core.connection import Connection
from provisioner_core.contracts.step_results import (
    Adoption,
    Attachment,
    CorsApplied,
    CreatedPolicy,
    CreatedUser,
    Deactivation,
    Grace,
    HandOver,
    IssuedKey,
    LabellerrRegistration,
    OffboardingBegun,
    OldKeyDeletion,
    RecordedOutcome,
    Registration,
    RemovalReport,
    RollbackReport,
    RotationBegun,
    RotationKey,
    RotationStarted,
    UndoReport,
    Verification,
)


class CaughtError(TypedDict, total=False):
    """What a Catch records: the error's name and its cause (the Lambda runtime's JSON envelope)."""

    Error: str
    Cause: str


# -- the run states


class OnboardingRun(TypedDict, total=False):
    request: Any
    connection: Connection
    registration: Registration
    user: CreatedUser
    policy: CreatedPolicy
    attachment: Attachment
    cors: CorsApplied
    access_key: IssuedKey
    verification: Verification
    labellerr: LabellerrRegistration
    recorded: RecordedOutcome
    rollback: RollbackReport
    failure: CaughtError
    rollback_failure: CaughtError
    recording_failure: CaughtError


class OffboardingRun(TypedDict, total=False):
    request: Any
    offboarding: OffboardingBegun
    removal: RemovalReport
    recorded: RecordedOutcome
    failure: CaughtError
    rollback_failure: CaughtError
    recording_failure: CaughtError


class RotationRun(TypedDict, total=False):
    request: Any
    rotation: RotationBegun
    new_key: RotationKey
    verification: Verification
    hand_over: HandOver
    adoption: Adoption
    deactivation: Deactivation
    grace: Grace
    old_key_deletion: OldKeyDeletion
    recorded: dict[str, Any]
    undo: UndoReport
    failure: CaughtError
    record_failure: CaughtError
    undo_failure: CaughtError


# -- what each Task receives


class RequestEvent(TypedDict):
    """Plan onboarding, Validate request, Begin offboarding: the request and `$$.Execution.Id`. The API
    invokes Plan onboarding with the same shape."""

    request: Any
    execution_arn: str


class ConnectionEvent(TypedDict):
    """Register connection, Create user, Create policy, Apply CORS."""

    connection: Connection


class AttachPolicyEvent(TypedDict):
    connection: Connection
    user: CreatedUser
    policy: CreatedPolicy


class IssueAccessKeyEvent(TypedDict):
    connection: Connection
    user: CreatedUser
    retry_count: int


class VerifyAccessEvent(TypedDict):
    """Onboarding's (the key Issue access key made) and the rotation's (the new key's pending version)."""

    connection: Connection
    access_key: IssuedKey | RotationKey
    cors: CorsApplied | dict[str, Any]
    cors_just_applied: bool
    attempt: int
    # The policy was attached long ago (a rotation): a refusal is checked against IAM's listing at once.
    policy_settled: bool


class RegisterInLabellerrEvent(TypedDict):
    connection: Connection
    access_key: IssuedKey
    retry_count: int


class RecordOutcomeEvent(TypedDict):
    outcome: Literal["ACTIVE", "FAILED", "ROLLBACK_FAILED", "DELETED"]
    flow: Literal["onboarding", "offboarding"]
    run: Any  # OnboardingRun or OffboardingRun, as `flow` says
    execution_arn: str
    failed_state: str | None


class RollbackEvent(TypedDict):
    run: OnboardingRun
    execution_arn: str
    failed_state: str | None
    handed_to_labellerr: bool


class RemoveConnectionEvent(TypedDict):
    run: OffboardingRun
    execution_arn: str


class BeginRotationEvent(TypedDict):
    request: Any
    execution_arn: str
    rotation_id: str


class IssueRotationKeyEvent(TypedDict):
    connection: Connection
    rotation: RotationStarted
    execution_arn: str


class HandOverEvent(TypedDict):
    rotation: RotationStarted
    new_key: RotationKey
    execution_arn: str


class CheckKeyAdoptionEvent(TypedDict):
    rotation: RotationStarted
    new_key: RotationKey
    hand_over: HandOver
    checks_done: int
    execution_arn: str


class CheckGraceEvent(TypedDict):
    rotation: RotationStarted
    checks_done: int
    execution_arn: str


class RotationStepEvent(TypedDict):
    """Deactivate old key, Delete old key."""

    rotation: RotationStarted
    execution_arn: str


class RecordRotationOutcomeEvent(TypedDict):
    outcome: str
    run: RotationRun
    execution_arn: str
    failed_state: str | None


class UndoRotationEvent(TypedDict):
    run: RotationRun
    reason: Literal["failed", "rollback"]
    execution_arn: str
    failed_state: str | None
