"""Validate request: normalize the request into a connection and check the bucket before anything is made."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, bucket_facts
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.errors import BucketNotAccessible, BucketNotFound, InvalidRequest
from provisioner_core.request import parse_request, to_connection
from provisioner_core.step import translate_aws_errors

logger = Logger()
SETTINGS = Settings.from_env()


def bucket_region(s3: Any, bucket: str, default_region: str) -> str:
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


def inspect_bucket(s3: Any, kms: Any, connection: Connection, settings: Settings) -> Connection:
    """The bucket as it is (bucket_facts): a setting that would make the key useless fails here."""
    account_id = (
        connection["execution_arn"].split(":")[4] if connection["execution_arn"].count(":") >= 5 else ""
    )
    bucket, prefix, access = connection["bucket"], connection["prefix"], connection["access"]
    requester_pays = bucket_facts.requester_pays(s3, bucket)
    samples = bucket_facts.sample_objects(s3, bucket, prefix)
    encryption = bucket_facts.inspect_encryption(s3, kms, bucket, samples, access, account_id)
    user_path = f"{connection['iam_path']}{connection['iam_user_name']}"
    principal_arn = f"arn:{settings.partition}:iam::{account_id}:user{user_path}"
    bucket_policy = bucket_facts.inspect_bucket_policy(
        s3,
        bucket=bucket,
        prefix=prefix,
        partition=settings.partition,
        access=access,
        principal_arn=principal_arn,
        account_id=account_id,
        sample_key=samples[0] if samples else "",
    )
    return Connection(
        **connection, encryption=encryption, bucket_policy=bucket_policy, requester_pays=requester_pays
    )


def validate_request(
    s3: Any, raw_request: Any, execution_arn: str, settings: Settings, kms: Any = None
) -> Connection:
    request = parse_request(raw_request, labellerr_available=settings.labellerr_enabled)
    bucket, _ = request.location()
    if not settings.bucket_allowed(bucket):
        field = "bucket" if request.bucket is not None else "s3_uri"
        raise InvalidRequest(
            [
                {
                    "field": field,
                    "message": f"bucket {bucket!r} is not one this stack may manage "
                    f"(AllowedBuckets={settings.allowed_buckets!r})",
                }
            ]
        )
    region = bucket_region(s3, bucket, settings.region)
    connection = to_connection(request, settings, execution_arn=execution_arn, region=region)
    # The bucket's own region: its KMS keys live there, and S3 answers fastest there.
    regional_s3 = s3 if region == settings.region else aws.client("s3", region_name=region)
    return inspect_bucket(regional_s3, kms or aws.client("kms", region_name=region), connection, settings)


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    connection = validate_request(aws.client("s3"), event["request"], event["execution_arn"], SETTINGS)
    logger.info("Request valid", connection_id=connection["connection_id"], bucket=connection["bucket"])
    return {"connection": connection}
