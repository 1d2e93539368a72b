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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from provisioner_core import aws, cors_probe
from provisioner_core.config import Settings
from provisioner_core.connection import PROBE_NAME_PREFIX, Connection, probe_key
from provisioner_core.errors import (
    AccessDeniedByPolicy,
    AccessNotYetEffective,
    AwsCallFailed,
    CorsNotYetVisible,
    PolicyDetached,
    VerificationFailed,
)
from provisioner_core.objects_lease import WRITE_PROBES, objects_lease
from provisioner_core.step import translate_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.checks import OperationCheck
    from provisioner_core.contracts.run_state import VerifyAccessEvent
    from provisioner_core.contracts.step_results import KeyInSecret, Verification

logger = Logger()
SETTINGS = Settings.from_env()

PROPAGATION_ERRORS = frozenset(
    {"InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied"}
)
PROBE_BODY = b"labellerr connection check\n"
# Directory markers and empty files cannot serve a one-byte ranged read.
_LISTED_KEYS = 20
# Listings to sample from when the sampled object keeps vanishing before its read.
_SAMPLE_ATTEMPTS = 3
# How many of the state's retries ($$.State.RetryCount) a CORS rule just written may take to show. Every
# retry waits at least a second (the ASL's CorsNotYetVisible retrier: 2 s), so this is at least as many
# seconds since the write; the retrier's MaxAttempts is no smaller, so this bound is what ends the wait.
CORS_SETTLE_RETRIES = 30
# Retries of onboarding's propagation wait before a refusal is checked against the user's attached policies:
# IAM's reads may not show a policy attached a moment before.
POLICY_SETTLE_RETRIES = 10
# Checks that a stale configuration can fail while the rules as read say ours answers.
_SETTLING_CHECKS = frozenset({"cors:Preflight", "cors:GetObject"})


def _passed(operation: str, detail: str) -> OperationCheck:
    return {"operation": operation, "outcome": "passed", "detail": detail}


def lasting_refusal(code: str, message: str) -> str:
    """What an AccessDenied names that time will not change: "" when it may still be propagation.

    S3 says which kind of policy refused and whether the deny was explicit ("... with an explicit deny in a
    resource-based policy"); a KMS refusal names a kms: action.
    """
    if code != "AccessDenied":
        return ""
    lowered = message.lower()
    if "explicit deny" in lowered:
        where = "the bucket policy" if "resource-based policy" in lowered else "a policy"
        return f"an explicit deny in {where}"
    if "kms:" in lowered:
        return "KMS (the key policy or the connection policy's KMS statement)"
    return ""


def _call(operation: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as error:
        code = aws.error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        lasting = lasting_refusal(code, message)
        if lasting:
            raise AccessDeniedByPolicy(
                f"{operation} with the new key was refused by {lasting}, which waiting does not change: "
                f"{code}: {message}"
            ) from None
        if code in PROPAGATION_ERRORS:
            raise AccessNotYetEffective(
                f"{operation}: {code}" + (f" ({message})" if message else "")
            ) from None
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            # S3 had a bad moment (past the SDK's retries): the state machine tries the step again.
            raise AwsCallFailed(operation, code, message) from None
        raise VerificationFailed(f"{operation} with the new key failed with {code}: {message}") from None


def bucket_cors_rules(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    def get_rules(**kwargs: Any) -> dict[str, Any]:
        try:
            return dict(s3.get_bucket_cors(**kwargs))
        except ClientError as error:
            if aws.error_code(error) == "NoSuchCORSConfiguration":
                return {"CORSRules": []}
            raise

    return list(_call("s3:GetBucketCors", get_rules, Bucket=bucket)["CORSRules"])


def not_yet_or_never(message: str, settling: int | None) -> Exception:
    """`settling`: the retries so far while the rule may still be settling, None when it cannot be."""
    if settling is None:
        return VerificationFailed(message)
    if settling < CORS_SETTLE_RETRIES:
        return CorsNotYetVisible(
            f"{message}; S3 may not show the CORS configuration written just before yet (retry {settling})"
        )
    return VerificationFailed(f"{message}, still after {settling} retries since the CORS rule was written")


def check_cors(
    s3: S3Client,
    connection: Connection,
    cors: Mapping[str, Any],
    readable: dict[str, Any] | None,
    origins: list[str],
    fetched: dict[str, cors_probe.HttpAnswer],
    settling: int | None = None,
) -> list[OperationCheck]:
    """What Labellerr's browser would meet: the preflight, a GET with Origin, the rule order, a foreign
    origin. With apply_cors false the customer's own configuration is reported on, as warnings."""
    bucket, applied = connection["bucket"], bool(cors.get("applied"))
    rules = bucket_cors_rules(s3, bucket)
    rule_id = str(cors.get("rule_id") or "")
    checks: list[OperationCheck] = []
    if applied:
        if not any(rule.get("ID") == rule_id for rule in rules):
            raise not_yet_or_never(f"the bucket's CORS configuration has no rule {rule_id!r}", settling)
        checks.append(_passed("s3:GetBucketCors", f"CORS rule '{rule_id}' is in place"))
    found = cors_probe.cors_checks(
        s3,
        bucket=bucket,
        key=cors_probe.probe_key(connection["prefix"], [readable] if readable else []),
        region=connection["region"],
        origins=origins,
        rules=rules,
        rule_id=rule_id,
        object_exists=readable is not None,
        fetched=fetched,
    )
    if not applied:
        return checks + cors_probe.as_warnings(found)
    failed = cors_probe.failures(found)
    if failed:
        message = "CORS would not serve Labellerr's browser: " + "; ".join(
            f"{c['operation']}: {c['detail']}" for c in failed
        )
        # Only an answer that contradicts the rules as read may be an older configuration answering.
        stale = all(c["operation"] in _SETTLING_CHECKS for c in failed)
        raise not_yet_or_never(message, settling if stale else None)
    return checks + found


def sample(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first object a read can prove access with: non-empty, and never a verification probe, which
    its own run deletes at any moment (another connection's on the same prefix, or a leftover)."""
    return next((o for o in objects if o.get("Size", 0) > 0 and PROBE_NAME_PREFIX not in o["Key"]), None)


def check_access(
    s3: S3Client,
    dynamodb: DynamoDBClient,
    connection: Connection,
    cors: Mapping[str, Any],
    settings: Settings | None = None,
    settling: int | None = None,
) -> list[OperationCheck]:
    settings = settings or SETTINGS
    origins = cors_probe.probe_origins(settings.cors_allowed_origins, settings.cors_probe_origins)
    fetched: dict[str, cors_probe.HttpAnswer] = {}
    bucket, prefix = connection["bucket"], connection["prefix"]
    checks: list[OperationCheck] = []
    readable: dict[str, Any] | None = None
    # An object can vanish between the listing and the read (the customer's, or another connection's): it is
    # sampled again from a new listing, never a failure.
    for _ in range(_SAMPLE_ATTEMPTS):
        listing = _call(
            "s3:ListObjectsV2", s3.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=_LISTED_KEYS
        )
        objects = listing.get("Contents", [])
        checks = [_passed("s3:ListObjectsV2", f"listed {len(objects)} object(s) under '{prefix}'")]
        readable = sample(objects)
        if readable is None:
            break
        # The read carries the first probe origin's Origin, so it is also the browser's signed GET.
        with cors_probe.origin_header(s3, origins[0]) as seen:
            try:
                _call("s3:GetObject", s3.get_object, Bucket=bucket, Key=readable["Key"], Range="bytes=0-0")[
                    "Body"
                ].read()
            except VerificationFailed as error:
                if "NoSuchKey" not in str(error):
                    raise
                readable = None
                continue
        fetched[origins[0]] = cors_probe.HttpAnswer(206, dict(seen))
        checks.append(_passed("s3:GetObject", f"read the first byte of '{readable['Key']}'"))
        break
    if readable is None:
        checks.append(
            {
                "operation": "s3:GetObject",
                "outcome": "not_tried",
                "detail": "no non-empty object under the prefix that stayed there to be read",
            }
        )
    checks += check_cors(s3, connection, cors, readable, origins, fetched, settling)
    if connection["access"] == "import_export":
        checks += check_write_access(s3, dynamodb, connection)
    return checks


def check_write_access(
    s3: S3Client, dynamodb: DynamoDBClient, connection: Connection
) -> list[OperationCheck]:
    bucket, key = connection["bucket"], probe_key(connection)
    # The probe exists only while no Labellerr test lists the prefix: that test would try to read it.
    with objects_lease(dynamodb, bucket, WRITE_PROBES):
        # The probe's name is fixed per connection: a retry overwrites it, and rollback and offboarding
        # delete it by that name with the provisioner's own permission if this step dies before deleting it.
        written = _call("s3:PutObject", s3.put_object, Bucket=bucket, Key=key, Body=PROBE_BODY)
        body = _call("s3:GetObject", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
        deleted = delete_probe(s3, bucket, key, written.get("VersionId"))
    if body != PROBE_BODY:
        raise VerificationFailed(f"the probe object '{key}' read back different bytes")
    return [
        _passed("s3:PutObject", f"wrote probe '{key}'"),
        _passed("s3:GetObject (probe)", "read the probe back"),
        deleted,
    ]


def delete_probe(s3: S3Client, bucket: str, key: str, version_id: str | None) -> OperationCheck:
    """Leave nothing behind, also in a versioned bucket.

    There a DeleteObject without VersionId keeps the probe as a noncurrent version and adds a delete marker,
    on every verification; deleting the version PutObject returned removes it for good. Without a version id
    (versioning never enabled, or suspended) a delete marker can still be made: it is removed by its own id.
    """
    if version_id:
        _call("s3:DeleteObjectVersion", s3.delete_object, Bucket=bucket, Key=key, VersionId=version_id)
        return _passed("s3:DeleteObjectVersion", "deleted the probe's version")
    answer = _call("s3:DeleteObject", s3.delete_object, Bucket=bucket, Key=key)
    if answer.get("DeleteMarker") and answer.get("VersionId"):
        _call(
            "s3:DeleteObjectVersion", s3.delete_object, Bucket=bucket, Key=key, VersionId=answer["VersionId"]
        )
        return _passed("s3:DeleteObject", "deleted the probe and the delete marker it left")
    return _passed("s3:DeleteObject", "deleted the probe")


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
        checks = check_access(s3, dynamodb, connection, cors, settling=attempt if cors_just_applied else None)
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
