"""The onboarding request, validated. Only the validating step and the API import this (pydantic is heavy)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, field_validator

from provisioner_core.bucket_facts import HEAD_OBJECTS
from provisioner_core.config import Settings
from provisioner_core.connection import Connection, probe_key_for, s3_uri
from provisioner_core.errors import InvalidRequest
from provisioner_core.naming import (
    CONNECTION_ID_MAX,
    CONNECTION_ID_PATTERN,
    CONNECTION_NAME_MAX,
    CONNECTION_NAME_PATTERN,
    bucket_name_problem,
    derive_connection_id,
    normalize_prefix,
    split_s3_uri,
)
from provisioner_core.policy import MANAGED_POLICY_MAX_CHARS, build_policy_document, policy_size

LONGEST_PARTITION = "aws-us-gov"


class ConnectionRequest(BaseModel):
    """What a caller sends: a name, a bucket (as `s3_uri`, or `bucket` plus `prefix`) and an access level."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection_name: StrictStr = Field(
        min_length=1,
        max_length=CONNECTION_NAME_MAX,
        description="1-64 characters: letters, digits, space, '_', '.', '-'.",
        examples=["Satellite images"],
    )
    connection_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=CONNECTION_ID_MAX,
        description="Lowercase letters, digits and single hyphens; derived from the name when absent.",
    )
    description: StrictStr | None = Field(default=None, max_length=256)
    s3_uri: StrictStr | None = Field(
        default=None,
        description="`bucket/prefix/`, with or without `s3://`. Give this or `bucket`, not both.",
        examples=["acme-datasets/images/"],
    )
    bucket: StrictStr | None = None
    prefix: StrictStr | None = Field(default=None, description="Only with `bucket`.")
    access: Literal["import", "import_export"] = Field(
        default="import",
        description="`import` reads; `import_export` also writes and deletes objects under the prefix.",
    )
    apply_cors: StrictBool = Field(default=True, description="False leaves the bucket's CORS alone.")
    register_in_labellerr: StrictBool | None = Field(
        default=None,
        description="Create the connection in Labellerr too (tested by Labellerr). Default: true when the "
        "stack has Labellerr credentials (LabellerrCredentialsSecretArn); true without them is rejected.",
    )
    labellerr_data_type: Literal["image", "video", "audio", "document", "text"] = Field(
        default="image", description="The data type Labellerr's connection test and datasets use."
    )

    @field_validator("connection_name")
    @classmethod
    def _name_rule(cls, value: str) -> str:
        if not CONNECTION_NAME_PATTERN.fullmatch(value) or not value.strip():
            raise ValueError("must contain only letters, digits, space, '_', '.', '-' and not be blank")
        return value

    @field_validator("connection_id")
    @classmethod
    def _id_rule(cls, value: str | None) -> str | None:
        if value is not None and not CONNECTION_ID_PATTERN.fullmatch(value):
            raise ValueError("must be lowercase letters and digits separated by single hyphens")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket_rule(cls, value: str | None) -> str | None:
        if value is not None and (problem := bucket_name_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_rule(cls, value: str | None) -> str | None:
        return None if value is None else normalize_prefix(value)

    @field_validator("s3_uri")
    @classmethod
    def _s3_uri_rule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bucket, prefix = split_s3_uri(value)
        if problem := bucket_name_problem(bucket):
            raise ValueError(f"names bucket {bucket!r}: {problem}")
        try:
            normalized = normalize_prefix(prefix)
        except ValueError as error:
            raise ValueError(f"prefix {error}") from None
        return s3_uri(bucket, normalized)

    def location(self) -> tuple[str, str]:
        """(bucket, normalized prefix), whichever form the caller used."""
        if self.s3_uri is not None:
            bucket, prefix = split_s3_uri(self.s3_uri)
            return bucket, normalize_prefix(prefix)
        return self.bucket or "", self.prefix or ""


def _location_form_errors(raw: dict[str, Any]) -> list[dict[str, str]]:
    has_uri, has_bucket = raw.get("s3_uri") is not None, raw.get("bucket") is not None
    if has_uri and has_bucket:
        return [{"field": "s3_uri", "message": "give either s3_uri or bucket (with prefix), not both"}]
    if has_uri and raw.get("prefix") is not None:
        return [{"field": "prefix", "message": "prefix goes inside s3_uri, or use bucket with prefix"}]
    if not has_uri and not has_bucket:
        return [{"field": "s3_uri", "message": "required: give s3_uri, or bucket with an optional prefix"}]
    return []


def _pydantic_errors(error: ValidationError) -> list[dict[str, str]]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "request"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; allowed: " + ", ".join(ConnectionRequest.model_fields)
        elif item["type"] == "missing":
            message = "required"
        problems.append({"field": field, "message": message})
    return problems


def parse_request(raw: Any, *, labellerr_available: bool = False) -> ConnectionRequest:
    """Validate everything at once; InvalidRequest lists every violation, each naming its field.

    `labellerr_available`: the stack has Labellerr credentials, so `register_in_labellerr` may be true.
    """
    if not isinstance(raw, dict):
        raise InvalidRequest([{"field": "request", "message": "must be a JSON object"}])
    problems = _location_form_errors(raw)
    if raw.get("register_in_labellerr") is True and not labellerr_available:
        problems.append(
            {
                "field": "register_in_labellerr",
                "message": "this stack has no Labellerr credentials (LabellerrCredentialsSecretArn is "
                "empty); leave it out or set it to false",
            }
        )
    try:
        request = ConnectionRequest.model_validate(raw)
    except ValidationError as error:
        problems += _pydantic_errors(error)
    if not problems:
        problems += _policy_size_errors(request, "bucket" if raw.get("bucket") is not None else "s3_uri")
    if problems:
        raise InvalidRequest(problems)
    return request


_LONGEST_REGION = "ap-southeast-4-long-region-name"
_LONGEST_KMS_KEY_ARNS = tuple(
    f"arn:{LONGEST_PARTITION}:kms:{_LONGEST_REGION}:123456789012:key/mrk-{index:032x}"
    for index in range(HEAD_OBJECTS + 1)
)


def _policy_size_errors(request: ConnectionRequest, field: str) -> list[dict[str, str]]:
    """A long prefix (or one of characters the policy holds as escapes) makes the policy too big for IAM.

    Checked here, before anything is created, with the longest partition name and room for the most KMS keys
    Validate request can find (the bucket's default and one per sampled object), so no bucket fails later.
    """
    bucket, prefix = request.location()
    size = policy_size(
        build_policy_document(
            partition=LONGEST_PARTITION,
            bucket=bucket,
            prefix=prefix,
            access=request.access,
            kms_key_arns=_LONGEST_KMS_KEY_ARNS,
            region=_LONGEST_REGION,
            account_id="123456789012",  # account ids are always 12 digits
            probe_key=probe_key_for(prefix, "x" * CONNECTION_ID_MAX),
        )
    )
    if size <= MANAGED_POLICY_MAX_CHARS:
        return []
    # The policy holds the prefix once per statement that names it, non-Latin-1 characters as escapes.
    escaped = (
        " (a character above U+00FF counts as 6, as a \\uXXXX escape; above U+FFFF as 12)"
        if any(ord(char) > 0xFF for char in prefix)
        else ""
    )
    return [
        {
            "field": "prefix" if field == "bucket" and request.prefix else field,
            "message": f"makes the IAM policy {size} characters long; IAM allows {MANAGED_POLICY_MAX_CHARS}"
            f"{escaped}: use a shorter prefix",
        }
    ]


def to_connection(
    request: ConnectionRequest, settings: Settings, *, execution_arn: str, region: str
) -> Connection:
    bucket, prefix = request.location()
    connection_id = request.connection_id or derive_connection_id(request.connection_name)
    name = f"{settings.iam_name_prefix}{connection_id}"
    return Connection(
        connection_id=connection_id,
        connection_name=request.connection_name,
        description=request.description or "",
        bucket=bucket,
        prefix=prefix,
        s3_uri=s3_uri(bucket, prefix),
        access=request.access,
        apply_cors=request.apply_cors,
        whole_bucket=prefix == "",
        region=region,
        iam_user_name=name,
        iam_path=settings.iam_path,
        policy_name=name,
        secret_name=f"{settings.secret_name_prefix}{connection_id}",
        execution_arn=execution_arn,
        register_in_labellerr=(
            settings.labellerr_enabled
            if request.register_in_labellerr is None
            else request.register_in_labellerr
        ),
        labellerr_data_type=request.labellerr_data_type,
    )
