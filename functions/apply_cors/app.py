"""Apply CORS: put the connection's own rule into the bucket's CORS configuration, keeping all others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.cors import current_rules as current_cors_rules
from provisioner_core.cors import labellerr_rule, planned_configuration, rule_id_for, write_rules
from provisioner_core.lease import bucket_lease, lease_holder
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from provisioner_core.contracts.run_state import ConnectionEvent
    from provisioner_core.contracts.step_results import CorsApplied

logger = Logger()
SETTINGS = Settings.from_env()


def apply_cors(
    s3: S3Client, dynamodb: DynamoDBClient, connection: Connection, settings: Settings
) -> CorsApplied:
    rule = labellerr_rule(settings.cors_allowed_origins, rule_id_for(connection["connection_id"]))
    # Read-merge-write under the bucket's lease: S3 offers no conditional PutBucketCors.
    with bucket_lease(dynamodb, connection["bucket"], lease_holder(connection["connection_id"])):
        return merge_into_bucket(s3, connection["bucket"], rule)


def merge_into_bucket(s3: S3Client, bucket: str, rule: dict[str, Any]) -> CorsApplied:
    """Idempotent: a retry after a PutBucketCors that took effect finds the rule by ID, changes nothing."""
    existing = current_cors_rules(s3, bucket)
    merged, customer_rule = planned_configuration(existing, rule)
    if customer_rule is not None:
        # The customer already grants exactly this; their rule is theirs to keep or remove.
        return {
            "applied": True,
            "rule_id": customer_rule.get("ID", ""),
            "rule_added": False,
            "bucket_had_cors": True,
            "rules_total": len(existing),
        }
    if merged is not None:
        write_rules(s3, bucket, merged)
    return {
        "applied": True,
        "rule_id": rule["ID"],
        "rule_added": True,
        "bucket_had_cors": any(r.get("ID") != rule["ID"] for r in existing),
        "rules_total": len(merged if merged is not None else existing),
    }


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: ConnectionEvent, context: LambdaContext) -> CorsApplied:
    result = apply_cors(aws.client("s3"), aws.client("dynamodb"), event["connection"], SETTINGS)
    logger.info("CORS applied", bucket=event["connection"]["bucket"], rule_id=result["rule_id"])
    return result
