"""The normalized connection that travels between the steps in the state (never any key material)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from provisioner_core.config import TAG_CONNECTION_ID, TAG_EXECUTION_ARN

if TYPE_CHECKING:
    # IAM's tag; Secrets Manager's has the same keys.
    from mypy_boto3_iam.type_defs import TagTypeDef

Access = Literal["import", "import_export"]
DataType = Literal["image", "video", "audio", "document", "text"]


class Connection(TypedDict):
    connection_id: str
    connection_name: str
    description: str
    bucket: str
    prefix: str
    s3_uri: str
    access: Access
    apply_cors: bool
    # An empty prefix grants the whole bucket; every answer says so.
    whole_bucket: bool
    region: str
    iam_user_name: str
    iam_path: str
    policy_name: str
    secret_name: str
    execution_arn: str
    # What Validate request found in the bucket (provisioner_core.bucket_facts); absent in the API's claim.
    encryption: NotRequired[dict[str, Any]]
    bucket_policy: NotRequired[dict[str, Any]]
    requester_pays: NotRequired[str]
    # Whether Register in Labellerr hands the key to Labellerr, and what the connection will carry there.
    register_in_labellerr: bool
    labellerr_data_type: DataType


def ownership_tags(connection: Connection) -> list[TagTypeDef]:
    """Tags that let rollback prove a resource was made by this execution and no other."""
    return [
        {"Key": TAG_CONNECTION_ID, "Value": connection["connection_id"]},
        {"Key": TAG_EXECUTION_ARN, "Value": connection["execution_arn"]},
    ]


def made_by(tags: Sequence[Mapping[str, Any]], execution_arn: str) -> bool:
    return any(t.get("Key") == TAG_EXECUTION_ARN and t.get("Value") == execution_arn for t in tags)


def s3_uri(bucket: str, prefix: str) -> str:
    """`bucket/prefix/`, the form Labellerr's connection dialog asks for."""
    return f"{bucket}/{prefix}" if prefix else bucket


PROBE_NAME_PREFIX = ".labellerr-connection-check-"


def probe_key_for(prefix: str, connection_id: str) -> str:
    """The one object key verification writes for import_export. Rollback and offboarding delete it by this
    name with the provisioner's own permission, which covers only keys of this shape."""
    return f"{prefix}{PROBE_NAME_PREFIX}{connection_id}"


def probe_key(connection: Connection) -> str:
    return probe_key_for(connection["prefix"], connection["connection_id"])


def labellerr_marker(connection_id: str) -> str:
    """Written into the description of every Labellerr connection a connection makes. Labellerr's create
    is not idempotent and answers no name lookup, so this is how a retry, the rollback and offboarding find
    a connection's Labellerr connections in Labellerr itself."""
    return f"[labellerr-provisioner:{connection_id}]"
