"""What a bucket encrypts with: its default, the sampled objects' own encryption, and the customer-managed
KMS keys the connection policy must grant.

SSE-C objects under the prefix fail the run: nobody can read them without the customer's own key. The KMS
key ARNs found (bucket default and objects' own keys; the AWS-managed `aws/s3` key needs nothing) go into
the connection, and the connection policy grants exactly those keys, only through S3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.bucket_reads import UNREADABLE
from provisioner_core.errors import KmsKeyNotUsable, UnsupportedEncryption
from provisioner_core.kms_keys import AWS_MANAGED_S3_ALIAS, check_key_policy, describe_key, is_aws_managed

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def default_encryption(s3: S3Client, bucket: str) -> dict[str, Any]:
    """The bucket's default: {"type": "AES256" | "aws:kms" | "aws:kms:dsse" | "unreadable", "kms_key_id"?}."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as error:
        code = error_code(error)
        if code == "ServerSideEncryptionConfigurationNotFoundError":
            # Every bucket encrypts with SSE-S3 unless told otherwise.
            return {"type": "AES256"}
        if code in UNREADABLE:
            return {"type": "unreadable"}
        raise
    default: Mapping[str, Any] = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault") or {}
    found: dict[str, Any] = {"type": str(default.get("SSEAlgorithm") or "AES256")}
    if found["type"].startswith("aws:kms"):
        found["kms_key_id"] = str(default.get("KMSMasterKeyID") or AWS_MANAGED_S3_ALIAS)
        found["bucket_key_enabled"] = bool((rules[0] if rules else {}).get("BucketKeyEnabled", False))
    return found


def object_encryption(s3: S3Client, bucket: str, keys: Iterable[str]) -> list[dict[str, str]]:
    """Each sampled object's own encryption; SSE-C fails the run (HeadObject without the customer's key
    is a 400 for such an object, and so would every read of Labellerr's be)."""
    found: list[dict[str, str]] = []
    for key in keys:
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            status = _status(error)
            if status == 400:
                raise UnsupportedEncryption(
                    f"object '{key}' in bucket {bucket!r} is encrypted with a customer-provided key (SSE-C): "
                    "nobody can read it without that key, and Labellerr cannot send it. Re-encrypt the "
                    "objects under the prefix with SSE-S3 or SSE-KMS (`aws s3 cp` with --sse-c-copy-source "
                    "and --sse, for example)"
                ) from None
            if status in (403, 404):
                continue
            raise
        if head.get("SSECustomerAlgorithm"):
            raise UnsupportedEncryption(
                f"object '{key}' in bucket {bucket!r} is encrypted with a customer-provided key (SSE-C); "
                "re-encrypt it with SSE-S3 or SSE-KMS"
            )
        entry = {"key": key, "type": str(head.get("ServerSideEncryption") or "AES256")}
        if head.get("SSEKMSKeyId"):
            entry["kms_key_id"] = str(head["SSEKMSKeyId"])
        found.append(entry)
    return found


def inspect_encryption(
    s3: S3Client, kms: KMSClient, bucket: str, samples: Iterable[str], access: str, account_id: str
) -> dict[str, Any]:
    """The `encryption` of the connection: what the bucket uses and the customer keys the policy grants.
    `samples`: keys under the prefix (sample_objects) whose own encryption is looked at."""
    default = default_encryption(s3, bucket)
    objects = object_encryption(s3, bucket, samples)
    key_ids: list[str] = []
    if default.get("kms_key_id"):
        key_ids.append(default["kms_key_id"])
    key_ids += [o["kms_key_id"] for o in objects if o.get("kms_key_id")]
    customer_keys: list[str] = []
    key_policies: dict[str, str] = {}
    arns: dict[str, str] = {}
    for key_id in dict.fromkeys(key_ids):
        metadata = describe_key(kms, key_id)
        arns[key_id] = str(metadata["Arn"])
        if is_aws_managed(key_id, metadata):
            continue
        if metadata.get("KeyState") not in ("Enabled", "UNKNOWN"):
            raise KmsKeyNotUsable(
                f"KMS key {metadata['Arn']} used by bucket {bucket!r} is {metadata.get('KeyState')}: "
                "S3 cannot decrypt with it; enable the key or re-encrypt the objects"
            )
        arn = str(metadata["Arn"])
        if arn not in customer_keys:
            customer_keys.append(arn)
            key_policies[arn] = check_key_policy(kms, arn, account_id, access)
    found: dict[str, Any] = {"type": default["type"]}
    if default.get("kms_key_id"):
        found["kms_key_arn"] = arns.get(default["kms_key_id"], default["kms_key_id"])
        found["key_manager"] = "AWS" if found["kms_key_arn"] not in customer_keys else "CUSTOMER"
        found["bucket_key_enabled"] = default["bucket_key_enabled"]
    other = sorted(
        {arns[o["kms_key_id"]] for o in objects if o.get("kms_key_id")} - {found.get("kms_key_arn")}
    )
    if other:
        found["object_kms_key_arns"] = other
    found["objects_checked"] = len(objects)
    found["customer_kms_key_arns"] = customer_keys
    if key_policies:
        found["key_policies"] = key_policies
    return found
