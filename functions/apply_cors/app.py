"""Apply CORS: add the Labellerr rule to the bucket's CORS configuration, keeping every existing rule."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.cors import find_equivalent, labellerr_rule, merge_rule
from provisioner_core.lease import bucket_lease
from provisioner_core.step import translate_aws_errors

logger = Logger()
SETTINGS = Settings.from_env()


def current_cors_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    try:
        return list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"])
    except s3.exceptions.ClientError as error:
        if aws.error_code(error) == "NoSuchCORSConfiguration":
            return []
        raise


def apply_cors(s3: Any, dynamodb: Any, connection: Connection, settings: Settings) -> dict[str, Any]:
    # Read-merge-write under the bucket's lease: S3 offers no conditional PutBucketCors.
    with bucket_lease(dynamodb, connection["bucket"], connection["execution_arn"]):
        return merge_into_bucket(s3, connection["bucket"], labellerr_rule(settings.cors_allowed_origins))


def merge_into_bucket(s3: Any, bucket: str, rule: dict[str, Any]) -> dict[str, Any]:
    existing = current_cors_rules(s3, bucket)
    merged = merge_rule(existing, rule)
    if merged is None:
        equivalent = find_equivalent(existing, rule) or {}
        return {
            "applied": True,
            "rule_id": equivalent.get("ID", rule["ID"]),
            "rule_added": False,
            "bucket_had_cors": True,
            "rules_total": len(existing),
        }
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": merged})
    return {
        "applied": True,
        "rule_id": rule["ID"],
        "rule_added": True,
        "bucket_had_cors": bool(existing),
        "rules_total": len(merged),
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = apply_cors(aws.client("s3"), aws.client("dynamodb"), event["connection"], SETTINGS)
    logger.info("CORS applied", bucket=event["connection"]["bucket"], rule_added=result["rule_added"])
    return result
