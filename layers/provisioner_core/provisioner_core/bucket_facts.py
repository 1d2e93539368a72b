"""What a customer's bucket is like, found before anything is created: encryption, Requester Pays, policy.

Every read here is allowed to the provisioner's role only on AllowedBuckets (template.yaml). An optional read
refused with AccessDenied means "unreadable", never a failure: the connection may still work, and Verify
access then says clearly why it does not. Settings that would make the issued key useless fail the run here,
with a message that says what to change:

- Requester Pays: Labellerr does not send `x-amz-request-payer`, so every request would be a 403;
- SSE-C objects under the prefix: nobody can read them without the customer's own key;
- a customer-managed KMS key whose key policy, where readable, lets no IAM policy grant its use;
- an explicit Deny in the bucket policy, where readable, that certainly stops the issued user.

The KMS key ARNs found (bucket default and objects' own keys; the AWS-managed `aws/s3` key needs nothing) go
into the connection, and the connection policy grants exactly those keys, only through S3.

This module reads Requester Pays and samples the objects under the prefix; the rest by concern:
bucket_encryption (the default and the objects' own), kms_keys (the keys found and their key policies),
bucket_policy (its explicit Denies), bucket_reads (what a refused read means) and policy_statements
(reading a policy document's statements).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.bucket_encryption import default_encryption, inspect_encryption, object_encryption
from provisioner_core.bucket_policy import condition_holds, explicit_denies, inspect_bucket_policy
from provisioner_core.bucket_reads import UNREADABLE, Tri
from provisioner_core.errors import RequesterPaysBucket
from provisioner_core.kms_keys import (
    AWS_MANAGED_S3_ALIAS,
    Grant,
    check_key_policy,
    describe_key,
    is_aws_managed,
    key_policy_denies,
    key_policy_grant,
    kms_actions,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What Validate request, Plan onboarding, the bench and the tests import from here, wherever it lives now.
__all__ = [
    "AWS_MANAGED_S3_ALIAS",
    "HEAD_OBJECTS",
    "LISTED_KEYS",
    "UNREADABLE",
    "Grant",
    "Tri",
    "check_key_policy",
    "condition_holds",
    "default_encryption",
    "describe_key",
    "explicit_denies",
    "inspect_bucket_policy",
    "inspect_encryption",
    "is_aws_managed",
    "key_policy_denies",
    "key_policy_grant",
    "kms_actions",
    "object_encryption",
    "requester_pays",
    "sample_objects",
]

# Objects looked at with HeadObject: enough to see a prefix written under another key, cheap enough to keep
# Validate request fast (each is one round trip).
HEAD_OBJECTS = 3
LISTED_KEYS = 20


def sample_objects(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    """A few non-empty keys under the prefix (the probe's own name excluded)."""
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=LISTED_KEYS)
    except ClientError as error:
        if error_code(error) in UNREADABLE:
            return []
        raise
    keys = [o["Key"] for o in listing.get("Contents", []) if o.get("Size", 0) > 0]
    return [k for k in keys if ".labellerr-connection-check-" not in k][:HEAD_OBJECTS]


def requester_pays(s3: S3Client, bucket: str) -> Tri:
    try:
        payer = s3.get_bucket_request_payment(Bucket=bucket).get("Payer", "BucketOwner")
    except ClientError as error:
        if error_code(error) in UNREADABLE:
            return "unknown"
        raise
    if payer == "Requester":
        raise RequesterPaysBucket(
            f"bucket {bucket!r} has Requester Pays enabled (RequestPaymentConfiguration Payer=Requester): "
            "Labellerr does not send the x-amz-request-payer header, so every request it makes would be "
            "refused. Set the bucket's Payer to BucketOwner (`aws s3api put-bucket-request-payment --bucket "
            f"{bucket} --request-payment-configuration Payer=BucketOwner`) and try again"
        )
    return "no"
