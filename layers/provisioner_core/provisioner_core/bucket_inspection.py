"""Validate request's reads of the bucket, shared with Plan onboarding so both judge a bucket alike.

HeadBucket first (the bucket exists, its region), then the settings bucket_facts inspects. Validate request
stops at the first setting that makes the key useless; a plan wants every finding at once, so it passes a
`failures` list and gets the typed errors back in it instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError

from provisioner_core import bucket_facts
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.errors import (
    BucketNotAccessible,
    BucketNotFound,
    BucketPolicyDenies,
    KmsKeyNotUsable,
    ProvisionerError,
    RequesterPaysBucket,
    UnsupportedEncryption,
)

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

# Raised by bucket_facts for a setting that would make the issued key useless.
BUCKET_SETTING_ERRORS: tuple[type[ProvisionerError], ...] = (
    RequesterPaysBucket,
    UnsupportedEncryption,
    KmsKeyNotUsable,
    BucketPolicyDenies,
)

T = TypeVar("T")


def bucket_not_allowed(bucket: str, field: str, settings: Settings) -> dict[str, str] | None:
    """The request's violation when the stack may not manage `bucket` (its roles could not read it)."""
    if settings.bucket_allowed(bucket):
        return None
    return {
        "field": field,
        "message": f"bucket {bucket!r} is not one this stack may manage "
        f"(AllowedBuckets={settings.allowed_buckets!r})",
    }


def bucket_region(s3: S3Client, bucket: str, default_region: str) -> str:
    """The bucket's region, from HeadBucket, which fails fast when the bucket does not exist."""
    try:
        response = s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            raise BucketNotFound(f"bucket: {bucket!r} does not exist") from None
        if status == 403:
            raise BucketNotAccessible(f"bucket: {bucket!r} exists but this account may not list it") from None
        raise
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(response.get("BucketRegion") or headers.get("x-amz-bucket-region") or default_region)


def account_of(arn: str) -> str:
    """The account of an ARN (the execution's, or a function's own): the stack's account."""
    return arn.split(":")[4] if arn.count(":") >= 5 else ""


def inspect_bucket(
    s3: S3Client,
    kms: KMSClient,
    connection: Connection,
    settings: Settings,
    *,
    account_id: str | None = None,
    failures: list[ProvisionerError] | None = None,
) -> Connection:
    """The bucket as it is (bucket_facts): a setting that would make the key useless raises, or, with
    `failures`, is appended there while the other settings are still read."""

    def attempt(read: Callable[[], T], failed: T) -> T:
        if failures is None:
            return read()
        try:
            return read()
        except BUCKET_SETTING_ERRORS as error:
            failures.append(error)
            return failed

    account = account_of(connection["execution_arn"]) if account_id is None else account_id
    bucket, prefix, access = connection["bucket"], connection["prefix"], connection["access"]
    requester_pays = attempt(lambda: bucket_facts.requester_pays(s3, bucket), "yes")
    samples = bucket_facts.sample_objects(s3, bucket, prefix)
    encryption = attempt(
        lambda: bucket_facts.inspect_encryption(s3, kms, bucket, samples, access, account),
        {"type": "unusable"},
    )
    user_path = f"{connection['iam_path']}{connection['iam_user_name']}"
    principal_arn = f"arn:{settings.partition}:iam::{account}:user{user_path}"
    bucket_policy = attempt(
        lambda: bucket_facts.inspect_bucket_policy(
            s3,
            bucket=bucket,
            prefix=prefix,
            partition=settings.partition,
            access=access,
            principal_arn=principal_arn,
            account_id=account,
            sample_key=samples[0] if samples else "",
        ),
        {"status": "denies"},
    )
    return Connection(
        **connection, encryption=encryption, bucket_policy=bucket_policy, requester_pays=requester_pays
    )
