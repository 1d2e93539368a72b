"""Verify access: prove, as the new user and with the new key, that the connection works.

IAM takes seconds to make a new key and policy effective; refusals that fade with time raise
AccessNotYetEffective, which the state machine retries for about two minutes, each message saying how long
the key has existed and what refused it. A refusal that names an explicit deny (a bucket policy, say) or KMS
will not fade: AccessDeniedByPolicy, at once, not retried. Neither will a refusal because our policy is no
longer attached to the user (somebody detached it): before waiting, the user's attached policies are read,
and without ours PolicyDetached fails the step at once. Right after onboarding's Attach policy IAM may not
list it yet, so there the look waits POLICY_SETTLE_RETRIES retries; a rotation's policy is long attached.

S3's bucket configuration is eventually consistent too: right after Apply CORS, GetBucketCors and the
preflight may still answer the configuration from before it. When the run has just written its rule
(`cors_just_applied`), a rule that does not show, or a preflight or Origin GET that fails while the rules as
read say ours answers, raises CorsNotYetVisible for CORS_SETTLE_RETRIES retries, then VerificationFailed. A
failure the rules as read explain (a customer's rule before ours, origins too broad) will not fade: at once.
The checks themselves (provisioner_core.key_access) are shared with the health check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws
from provisioner_core.config import Settings
from provisioner_core.connection import Connection
from provisioner_core.errors import (
    AccessNotYetEffective,
    PolicyDetached,
    VerificationFailed,
)
from provisioner_core.key_access import check_access
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.run_state import VerifyAccessEvent
    from provisioner_core.contracts.step_results import KeyInSecret, Verification

logger = Logger()
SETTINGS = Settings.from_env()

# Retries of onboarding's propagation wait before a refusal is checked against the user's attached policies:
# IAM's reads may not show a policy attached a moment before.
POLICY_SETTLE_RETRIES = 10


def ensure_policy_attached(iam: IAMClient, connection: Connection, refused: AccessNotYetEffective) -> None:
    """PolicyDetached when the user no longer has our policy attached; a failed look changes nothing (the
    refusal is then waited for as propagation)."""
    user, policy_name = connection["iam_user_name"], connection["policy_name"]
    try:
        pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=user)
        attached = [p["PolicyName"] for page in pages for p in page["AttachedPolicies"]]
    except ClientError as error:
        logger.warning("Attached policies not read", user=user, error=aws.error_code(error))
        return
    if policy_name not in attached:
        raise PolicyDetached(
            f"the connection's policy {policy_name} is no longer attached to user {user} (attached: "
            f"{', '.join(attached) or 'none'}), so IAM refuses the new key, and waiting does not change "
            f"that; attach it again, or offboard the connection. Last refusal: {refused}"
        )


def verify_access(
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    connection: Connection,
    access_key: KeyInSecret,
    cors: Mapping[str, Any],
    attempt: int = 0,
    now: datetime | None = None,
    cors_just_applied: bool = False,
    iam: IAMClient | None = None,
    policy_settled: bool = False,
) -> Verification:
    """`attempt` is the state's $$.State.RetryCount: how often IAM (or S3) has already been waited for.
    `cors_just_applied`: this run's Apply CORS wrote its rule just before (onboarding), so for a while S3 may
    still answer the configuration before it; a rotation's rule is old, and a missing one is missing.
    `iam`: to tell a detached policy from propagation before waiting (not looked at without it).
    `policy_settled`: the policy was attached long ago (a rotation), so IAM's listing is looked at from the
    first refusal; otherwise from the POLICY_SETTLE_RETRIES-th retry."""
    # A rotation verifies its new key in the secret's pending version, before any consumer is given it.
    version_id = access_key.get("version_id")
    version: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    stored = secrets.get_secret_value(SecretId=access_key["secret_arn"], **version)
    secret = json.loads(stored["SecretString"])
    s3 = aws.client_with_key(
        "s3",
        access_key_id=secret["access_key_id"],
        secret_access_key=secret["secret_access_key"],
        region_name=connection["region"],
    )
    if secret["access_key_id"] != access_key["access_key_id"]:
        raise VerificationFailed("the secret holds another access key than the one this execution issued")
    try:
        checks = check_access(
            s3, dynamodb, connection, cors, SETTINGS, settling=attempt if cors_just_applied else None
        )
    except AccessNotYetEffective as refused:
        if iam is not None and (policy_settled or attempt >= POLICY_SETTLE_RETRIES):
            ensure_policy_attached(iam, connection, refused)
        # The key's secret version was written right after CreateAccessKey: its age is the key's.
        created = stored.get("CreatedDate")
        waited = ""
        if isinstance(created, datetime):
            seconds = ((now or datetime.now(UTC)) - created).total_seconds()
            waited = f" {max(0, round(seconds))} s after the key was issued"
        raise AccessNotYetEffective(
            f"the new key is not effective yet{waited} (attempt {attempt + 1}); last refusal: {refused}"
        ) from None
    return {"verified": True, "as_user": connection["iam_user_name"], "checks": checks}


@logger.inject_lambda_context(log_event=False)
@translate_aws_errors
def lambda_handler(event: VerifyAccessEvent, context: LambdaContext) -> Verification:
    result = verify_access(
        aws.client("secretsmanager"),
        aws.client("dynamodb"),
        event["connection"],
        event["access_key"],
        event["cors"],
        attempt=int(event.get("attempt", 0)),
        cors_just_applied=bool(event.get("cors_just_applied", False)),
        iam=aws.client("iam"),
        policy_settled=bool(event.get("policy_settled", False)),
    )
    logger.info("Access verified", checks=[c["operation"] + ": " + c["outcome"] for c in result["checks"]])
    return result
