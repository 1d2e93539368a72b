"""The connection's IAM policy, built as data and serialized with json, never by string formatting."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner_core.connection import probe_key_for
from provisioner_core.errors import PolicyTooLarge
from provisioner_core.partition_dns import s3_host

MANAGED_POLICY_MAX_CHARS = 6144
# IAM API reference, CreatePolicy: PolicyDocument must match this (Latin-1 and three control characters).
POLICY_DOCUMENT_PATTERN = re.compile(r"[\u0009\u000A\u000D\u0020-\u00FF]+")
_BEYOND_LATIN_1 = re.compile(r"[^\u0000-\u00FF]")
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
                "Condition": {"StringEquals": {"kms:ViaService": s3_host(region)}},
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


def policy_text(document: dict[str, Any]) -> str:
    """The document as IAM receives it: compact JSON in which every character above U+00FF is a JSON escape.

    IAM refuses a document holding any character outside POLICY_DOCUMENT_PATTERN, while S3 keys (and so
    prefixes) may hold any Unicode. `\\u753b` is the same JSON string as `画` (RFC 8259, section 7), so the
    grant is unchanged and the text fits the pattern. Latin-1 stays as it is: the pattern allows it, a
    Latin-1 prefix (`données/`) keeps counting one character per letter, and documents made before escaping
    was needed stay byte for byte the same. json.dumps escapes the control characters itself.
    """
    # Outside strings compact JSON is ASCII, so every escape lands inside a string, where it is valid.
    return escape_beyond_latin_1(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def escape_beyond_latin_1(text: str) -> str:
    """`text` with each character above U+00FF as a JSON escape (`\\u20ac`; a surrogate pair above U+FFFF)."""
    return _BEYOND_LATIN_1.sub(lambda match: json.dumps(match.group())[1:-1], text)


def policy_size(document: dict[str, Any]) -> int:
    """The characters IAM counts against the managed-policy quota, counted on the text IAM receives.

    IAM does not count white space; the compact form has none outside strings, and the few spaces a prefix
    may hold are counted (a little stricter than IAM, never looser). An escape counts as its six characters:
    IAM does not document whether it counts the escape or the character it stands for, so the larger is used.
    """
    return len(policy_text(document))


def serialize_policy(document: dict[str, Any]) -> str:
    text = policy_text(document)
    if len(text) > MANAGED_POLICY_MAX_CHARS:
        raise PolicyTooLarge(
            f"the policy document has {len(text)} characters; IAM allows {MANAGED_POLICY_MAX_CHARS}"
        )
    return text
