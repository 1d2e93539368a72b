"""Validate request: normalize the request into a connection and check the bucket before anything is made."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws
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


def validate_request(s3: Any, raw_request: Any, execution_arn: str, settings: Settings) -> Connection:
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
    return to_connection(request, settings, execution_arn=execution_arn, region=region)


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    connection = validate_request(aws.client("s3"), event["request"], event["execution_arn"], SETTINGS)
    logger.info("Request valid", connection_id=connection["connection_id"], bucket=connection["bucket"])
    return {"connection": connection}
