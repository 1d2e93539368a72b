"""Repair connection: put back what is ours and was changed by hand, and nothing else.

What it puts back, each read again from the world here (never taken from the check before it):
- our policy attached to our user (AttachUserPolicy);
- our policy's default version holding the document we built: the version that still holds it is made the
  default again and every other version is deleted (the guardrail lets no role create a policy version, so
  when no version holds it any more the finding stays, for a person);
- our CORS rule, merged into the bucket's configuration under the bucket's lease (never overwriting a
  customer's rule, and not at all when a customer's rule already grants the same).
It never re-enables a key, never deletes or detaches what it did not create, never edits a bucket policy or
a key policy, and never tags a user (the tag guard forbids it): those findings name what a person must do.
Only an ACTIVE connection is repaired, and the CORS rule only while the record, read under the bucket's lease,
still says ACTIVE: an offboarding that began removes the rule after the lease, never before it.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, registry
from provisioner_core.config import Settings
from provisioner_core.cors import (
    current_rules,
    labellerr_rule,
    planned_configuration,
    rule_id_for,
    write_rules,
)
from provisioner_core.lease import bucket_lease, lease_holder
from provisioner_core.policy import connection_policy_document
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client

    from provisioner_core.contracts.health import HealthCheckEvent, Repair
    from provisioner_core.contracts.records import Record

logger = Logger()
SETTINGS = Settings.from_env()


def _document(iam: IAMClient, arn: str, version_id: str) -> Any:
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]["Document"]
    return json.loads(urllib.parse.unquote(document)) if isinstance(document, str) else document


def reattach_policy(iam: IAMClient, record: Record) -> list[str]:
    user, arn = record["iam_user_name"], record["policy_arn"]
    attached = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]
    if arn in attached:
        return []
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    return [f"policy {arn} attached to IAM user {user} again"]


def restore_policy_version(iam: IAMClient, record: Record, settings: Settings) -> tuple[list[str], list[str]]:
    """(what was put back, what could not be)."""
    arn = record["policy_arn"]
    wanted = connection_policy_document(record, partition=settings.partition, account_id=arn.split(":")[4])
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    default = next(v["VersionId"] for v in versions if v["IsDefaultVersion"])
    others = [v["VersionId"] for v in versions if not v["IsDefaultVersion"]]
    if not others and _document(iam, arn, default) == wanted:
        return [], []
    done: list[str] = []
    if _document(iam, arn, default) != wanted:
        ours = next((v for v in others if _document(iam, arn, v) == wanted), None)
        if ours is None:
            return [], [
                f"no version of policy {arn} holds the provisioner's document, and no provisioner role may "
                "create one: a person must restore it, or offboard and onboard the connection again"
            ]
        iam.set_default_policy_version(PolicyArn=arn, VersionId=ours)
        done.append(f"version {ours} of policy {arn} (the provisioner's document) is the default again")
        others = [v for v in [default, *others] if v != ours]
    for version_id in others:
        iam.delete_policy_version(PolicyArn=arn, VersionId=version_id)
        done.append(f"version {version_id} of policy {arn} deleted")
    return done, []


def restore_cors_rule(
    s3: S3Client, dynamodb: DynamoDBClient, record: Record, settings: Settings
) -> list[str]:
    cors: Mapping[str, Any] = record.get("cors") or {}
    connection_id, bucket = record["connection_id"], record["bucket"]
    rule_id = rule_id_for(connection_id)
    # Only the rule this connection added is ours: with a customer's equivalent rule there never was one.
    if not cors.get("applied") or cors.get("rule_id") != rule_id:
        return []
    with bucket_lease(dynamodb, bucket, lease_holder(connection_id)):
        now = registry.get(dynamodb, connection_id)
        if now is None or now.get("status") != "ACTIVE":
            return []
        merged, customer_rule = planned_configuration(
            current_rules(s3, bucket), labellerr_rule(settings.cors_allowed_origins, rule_id)
        )
        if customer_rule is not None or merged is None:
            return []
        write_rules(s3, bucket, merged)
    return [f"CORS rule {rule_id} merged into bucket {bucket} again"]


def repair_connection(
    connection_id: str,
    dynamodb: DynamoDBClient,
    iam: IAMClient,
    s3: S3Client,
    settings: Settings,
) -> Repair:
    record = registry.get(dynamodb, connection_id)
    if record is None or record.get("status") != "ACTIVE":
        status = record.get("status") if record else "unknown"
        return {
            "repaired": [],
            "not_repaired": [f"the connection is {status}: only an ACTIVE one is repaired"],
        }
    repaired: list[str] = []
    not_repaired: list[str] = []
    steps: list[tuple[str, Callable[[], tuple[list[str], list[str]]]]] = [
        ("policy attachment", lambda: (reattach_policy(iam, record), [])),
        ("policy version", lambda: restore_policy_version(iam, record, settings)),
        ("CORS rule", lambda: (restore_cors_rule(s3, dynamodb, record, settings), [])),
    ]
    for name, step in steps:
        try:
            done, left = step()
        except ClientError as error:
            code = aws.error_code(error)
            if code in ("Throttling", "ThrottlingException", "ServiceUnavailable", "SlowDown"):
                raise
            # One repair refused (the policy gone, say) does not keep the others from being made.
            not_repaired.append(f"{name}: {code}")
            continue
        repaired += done
        not_repaired += left
    return {"repaired": repaired, "not_repaired": not_repaired}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: HealthCheckEvent, context: LambdaContext) -> Repair:
    result = repair_connection(
        event["connection_id"], aws.client("dynamodb"), aws.client("iam"), aws.client("s3"), SETTINGS
    )
    logger.info("Connection repaired", connection_id=event["connection_id"], **result)
    return result
