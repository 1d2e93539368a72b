"""The connection's IAM policy, built as data and serialized with json, never by string formatting."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner_core.connection import probe_key_for
from provisioner_core.errors import PolicyTooLarge

MANAGED_POLICY_MAX_CHARS = 6144
READ_OBJECT_ACTIONS = ("s3:GetObject",)
WRITE_OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject")
# IAM spells the action GetBucketCORS (matching is case-insensitive in AWS, not in every emulator).
BUCKET_METADATA_ACTIONS = ("s3:GetBucketLocation", "s3:GetBucketCORS")
KMS_READ_ACTIONS = ("kms:Decrypt",)
# S3 asks KMS for a data key on every SSE-KMS write (and Decrypt for multipart parts).
KMS_WRITE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# In a versioned bucket only a delete by VersionId removes Verify access's probe for good.
PROBE_CLEANUP_ACTIONS = ("s3:DeleteObjectVersion",)


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def build_policy_document(
    *,
    partition: str,
    bucket: str,
    prefix: str,
    access: str,
    kms_key_arns: Sequence[str] = (),
    region: str = "",
    account_id: str = "",
    probe_key: str = "",
) -> dict[str, Any]:
    """Least privilege for Labellerr: list and read under the prefix; write and delete only for export.

    No s3:PutBucketCors: the provisioner sets CORS itself, so the key never needs to. With customer-managed
    KMS keys (`kms_key_arns`, as Validate request found them): kms:Decrypt (and kms:GenerateDataKey for
    export) on exactly those keys, only through S3 in the bucket's region. With `account_id`, every S3
    statement holds only for a bucket of that account (s3:ResourceAccount): the bucket name alone would
    also name a bucket someone else owns once this one is deleted. With `probe_key` (export only), deleting
    versions of that one object, so verification leaves no version of its probe behind.
    """
    bucket_resource = bucket_arn(partition, bucket)
    objects_resource = f"{bucket_resource}/{prefix}*"
    list_statement: dict[str, Any] = {
        "Sid": "ListConnectionPrefix",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_resource,
    }
    if prefix:
        list_statement["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
    statements: list[dict[str, Any]] = [
        list_statement,
        {
            "Sid": "ReadBucketMetadata",
            "Effect": "Allow",
            "Action": list(BUCKET_METADATA_ACTIONS),
            "Resource": bucket_resource,
        },
        {
            "Sid": "ReadObjects",
            "Effect": "Allow",
            "Action": list(READ_OBJECT_ACTIONS),
            "Resource": objects_resource,
        },
    ]
    if access == "import_export":
        statements.append(
            {
                "Sid": "WriteObjects",
                "Effect": "Allow",
                "Action": list(WRITE_OBJECT_ACTIONS),
                "Resource": objects_resource,
            }
        )
        if probe_key:
            statements.append(
                {
                    "Sid": "RemoveVerificationProbe",
                    "Effect": "Allow",
                    "Action": list(PROBE_CLEANUP_ACTIONS),
                    "Resource": f"{bucket_resource}/{probe_key}",
                }
            )
    if kms_key_arns:
        if not region:
            raise ValueError("a KMS statement needs the bucket's region (kms:ViaService)")
        statements.append(
            {
                "Sid": "UseBucketKmsKeysThroughS3",
                "Effect": "Allow",
                "Action": list(KMS_WRITE_ACTIONS if access == "import_export" else KMS_READ_ACTIONS),
                "Resource": sorted(set(kms_key_arns)),
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            }
        )
    if account_id:
        for statement in statements:
            if statement["Sid"] != "UseBucketKmsKeysThroughS3":
                conditions = statement.setdefault("Condition", {}).setdefault("StringEquals", {})
                conditions["s3:ResourceAccount"] = account_id
    return {"Version": "2012-10-17", "Statement": statements}


def connection_policy_document(
    connection: Mapping[str, Any], *, partition: str, account_id: str
) -> dict[str, Any]:
    """The document Create policy creates for a connection as Validate request left it (its KMS keys)."""
    return build_policy_document(
        partition=partition,
        bucket=connection["bucket"],
        prefix=connection["prefix"],
        access=connection["access"],
        kms_key_arns=connection.get("encryption", {}).get("customer_kms_key_arns", []),
        region=connection["region"],
        account_id=account_id,
        probe_key=probe_key_for(connection["prefix"], connection["connection_id"]),
    )


def policy_size(document: dict[str, Any]) -> int:
    """IAM counts a managed policy's characters without white space."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def serialize_policy(document: dict[str, Any]) -> str:
    size = policy_size(document)
    if size > MANAGED_POLICY_MAX_CHARS:
        raise PolicyTooLarge(
            f"the policy document has {size} characters; IAM allows {MANAGED_POLICY_MAX_CHARS}"
        )
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
