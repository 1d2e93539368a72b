"""What the API answers: the bodies' shapes (the OpenAPI document's schemas) and the responses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired

from aws_lambda_powertools.event_handler import Response
from typing_extensions import TypedDict

from provisioner_core.contracts import records
from provisioner_core.contracts.health import Health


class ErrorItem(TypedDict):
    field: str
    message: str


class Errors(TypedDict):
    errors: list[ErrorItem]


class Accepted(TypedDict):
    connection_id: str
    status: Literal["PROVISIONING", "DEPROVISIONING", "DELETED"]
    execution_arn: str | None
    url: str
    warnings: NotRequired[list[str]]


class ConnectionRecord(TypedDict):
    """A registry record as GET returns it; the flows add fields as they go, never key material."""

    connection_id: str
    status: records.Status
    connection_name: NotRequired[str]
    description: NotRequired[str]
    bucket: NotRequired[str]
    prefix: NotRequired[str]
    s3_uri: NotRequired[str]
    access: NotRequired[Literal["import", "import_export"]]
    apply_cors: NotRequired[bool]
    region: NotRequired[str]
    execution_arn: NotRequired[str]
    offboarding_execution_arn: NotRequired[str]
    iam_user_arn: NotRequired[str]
    policy_arn: NotRequired[str]
    access_key_id: NotRequired[str]
    secret_arn: NotRequired[str]
    register_in_labellerr: NotRequired[bool]
    labellerr_data_type: NotRequired[str]
    # Register in Labellerr's result: labellerr_connection_ids, the test outcome (never a key).
    labellerr: NotRequired[dict[str, Any]]
    # Where a key rotation stands (its stage, the old and new key ids), and each key as IAM has it (GET).
    rotation: NotRequired[dict[str, Any]]
    keys: NotRequired[list[dict[str, Any]] | None]
    # DELETED: what the offboarding removed, each by name.
    removed: NotRequired[list[str]]
    # The last health check (POST /connections/{id}/health-checks or /repairs, or the sweep): absent until one
    # has ended.
    health: NotRequired[Health]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class ConnectionPage(TypedDict):
    connections: list[ConnectionRecord]
    next_token: str | None


def accepted(connection_id: str, status: Any, execution_arn: str | None) -> Accepted:
    return {
        "connection_id": connection_id,
        "status": status,
        "execution_arn": execution_arn,
        "url": f"/connections/{connection_id}",
    }


def json_response(status_code: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status_code, content_type="application/json", body=body, headers=headers)


def accepted_response(answer: Accepted, *, replayed: bool = False) -> Response[Any]:
    headers = {"Location": answer["url"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(202, answer, headers)


def error_response(status_code: int, field: str, message: str) -> Response[Any]:
    """Every error body is {"errors": [{"field", "message"}]}."""
    return json_response(status_code, {"errors": [{"field": field, "message": message}]})


class RotationAccepted(TypedDict):
    """POST /connections/{id}/rotations: the rotation's id is its execution's name."""

    connection_id: str
    rotation_id: str
    status: Literal["ROTATION_STARTED"]
    execution_arn: str


class RotationSignal(TypedDict):
    """A confirmation or rollback request left for the rotation's next check."""

    connection_id: str
    rotation_id: str
    stage: str
    requested_at: str


class HealthCheckAccepted(TypedDict):
    """POST /connections/{id}/health-checks or /repairs: the run started; the record's `health` names it
    (`health.execution_arn`) once it has ended."""

    connection_id: str
    execution_arn: str
    repair: bool
    url: str
