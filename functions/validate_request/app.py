"""Validate request: normalize the request into a connection and check the bucket before anything is made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws
from provisioner_core.bucket_inspection import bucket_not_allowed, bucket_region, inspect_bucket
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.dry_run import without_dry_run
from provisioner_core.errors import InvalidRequest
from provisioner_core.request import parse_request, to_connection
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

    from provisioner_core.contracts.run_state import RequestEvent
    from provisioner_core.contracts.step_results import Validated

logger = Logger()
SETTINGS = Settings.from_env()


def validate_request(
    s3: S3Client, raw_request: Any, execution_arn: str, settings: Settings, kms: KMSClient | None = None
) -> Connection:
    request = parse_request(without_dry_run(raw_request), labellerr_available=settings.labellerr_enabled)
    bucket, _ = request.location()
    if problem := bucket_not_allowed(bucket, "bucket" if request.bucket is not None else "s3_uri", settings):
        raise InvalidRequest([problem])
    region = bucket_region(s3, bucket, settings.region)
    connection = to_connection(request, settings, execution_arn=execution_arn, region=region)
    # The bucket's own region: its KMS keys live there, and S3 answers fastest there.
    regional_s3 = s3 if region == settings.region else aws.client("s3", region_name=region)
    return inspect_bucket(regional_s3, kms or aws.client("kms", region_name=region), connection, settings)


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: RequestEvent, context: LambdaContext) -> Validated:
    connection = validate_request(aws.client("s3"), event["request"], event["execution_arn"], SETTINGS)
    logger.info("Request valid", connection_id=connection["connection_id"], bucket=connection["bucket"])
    return {"connection": connection}
