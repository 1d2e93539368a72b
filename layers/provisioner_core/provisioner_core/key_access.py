"""What an issued key can do, tried with the key itself: list and read under the prefix, the browser's CORS,
the export write probe. Verify access proves a new key with it; a health check re-tries a live one.

Each call's refusal is sorted by whether time will change it: AccessNotYetEffective (IAM propagation, a new
key), AccessDeniedByPolicy (an explicit deny or KMS, never fading), VerificationFailed (anything else).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core import aws, cors_probe
from provisioner_core.config import Settings
from provisioner_core.connection import PROBE_NAME_PREFIX, Connection, probe_key
from provisioner_core.errors import (
    AccessDeniedByPolicy,
    AccessNotYetEffective,
    AwsCallFailed,
    CorsNotYetVisible,
    VerificationFailed,
)
from provisioner_core.objects_lease import WRITE_PROBES, objects_lease

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from provisioner_core.contracts.checks import OperationCheck

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
# Checks that a stale configuration can fail while the rules as read say ours answers.
_SETTLING_CHECKS = frozenset({"cors:Preflight", "cors:GetObject"})


def passed(operation: str, detail: str) -> OperationCheck:
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


def call_with_key(operation: str, call: Any, **kwargs: Any) -> Any:
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

    return list(call_with_key("s3:GetBucketCors", get_rules, Bucket=bucket)["CORSRules"])


def not_yet_or_never(message: str, settling: int | None) -> Exception:
    """`settling`: the retries so far while the rule may still be settling, None when it cannot be."""
    if settling is None:
        return VerificationFailed(message)
    if settling < CORS_SETTLE_RETRIES:
        return CorsNotYetVisible(
            f"{message}; S3 may not show the CORS configuration written just before yet (retry {settling})"
        )
    return VerificationFailed(f"{message}, still after {settling} retries since the CORS rule was written")


def browser_checks(
    s3: S3Client,
    connection: Connection,
    cors: Mapping[str, Any],
    readable: dict[str, Any] | None,
    origins: list[str],
    fetched: dict[str, cors_probe.HttpAnswer],
) -> tuple[list[OperationCheck], bool]:
    """What Labellerr's browser would meet (the preflight, a GET with Origin, the rule order, a foreign
    origin), and whether the connection's own rule is in the configuration.

    Judged by effect: a rule of ours that is gone is no failure when a customer's rule serves Labellerr
    exactly as well; the probes' answers decide. With apply_cors false the customer's own configuration
    is reported on, as warnings."""
    bucket, applied = connection["bucket"], bool(cors.get("applied"))
    rules = bucket_cors_rules(s3, bucket)
    rule_id = str(cors.get("rule_id") or "")
    ours_present = any(rule.get("ID") == rule_id for rule in rules)
    checks: list[OperationCheck] = []
    if applied:
        checks.append(
            passed("s3:GetBucketCors", f"CORS rule '{rule_id}' is in place")
            if ours_present
            else {
                "operation": "s3:GetBucketCors",
                "outcome": "warning",
                "detail": f"the bucket's CORS configuration has no rule {rule_id!r}; S3's answers decide",
            }
        )
    found = cors_probe.cors_checks(
        s3,
        bucket=bucket,
        key=cors_probe.probe_key(connection["prefix"], [readable] if readable else []),
        region=connection["region"],
        origins=origins,
        rules=rules,
        rule_id=rule_id if ours_present else "",
        object_exists=readable is not None,
        fetched=fetched,
    )
    return checks + (found if applied else cors_probe.as_warnings(found)), ours_present


def check_cors(
    s3: S3Client,
    connection: Connection,
    cors: Mapping[str, Any],
    readable: dict[str, Any] | None,
    origins: list[str],
    fetched: dict[str, cors_probe.HttpAnswer],
    settling: int | None = None,
) -> list[OperationCheck]:
    """browser_checks, where a CORS the connection applied that would not serve the browser fails the step.

    `settling` (onboarding, right after Apply CORS): a rule of ours not showing yet may still be S3's
    eventual consistency (CorsNotYetVisible). Otherwise (a rotation) the probes' answers alone decide."""
    checks, ours_present = browser_checks(s3, connection, cors, readable, origins, fetched)
    if not cors.get("applied"):
        return checks
    if settling is not None and not ours_present:
        raise not_yet_or_never(
            f"the bucket's CORS configuration has no rule {str(cors.get('rule_id') or '')!r}", settling
        )
    failed = cors_probe.failures(checks)
    if failed:
        # The missing rule (a warning on its own) is most often why.
        missing = [c for c in checks if c["operation"] == "s3:GetBucketCors" and c["outcome"] != "passed"]
        message = "CORS would not serve Labellerr's browser: " + "; ".join(
            f"{c['operation']}: {c['detail']}" for c in [*missing, *failed]
        )
        # Only an answer that contradicts the rules as read may be an older configuration answering.
        stale = all(c["operation"] in _SETTLING_CHECKS for c in failed)
        raise not_yet_or_never(message, settling if stale else None)
    return checks


def sample(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first object a read can prove access with: non-empty, and never a verification probe, which
    its own run deletes at any moment (another connection's on the same prefix, or a leftover)."""
    return next((o for o in objects if o.get("Size", 0) > 0 and PROBE_NAME_PREFIX not in o["Key"]), None)


def probe_origins(settings: Settings | None = None) -> list[str]:
    settings = settings or Settings.from_env()
    return cors_probe.probe_origins(settings.cors_allowed_origins, settings.cors_probe_origins)


def read_access(
    s3: S3Client, connection: Connection, origins: list[str], fetched: dict[str, cors_probe.HttpAnswer]
) -> tuple[list[OperationCheck], dict[str, Any] | None]:
    """ListObjectsV2 under the prefix and a one-byte GetObject of a listed object: (the checks, the object
    read, or None). The read carries the first probe origin's Origin, so it is also the browser's signed GET
    (its answer lands in `fetched`)."""
    bucket, prefix = connection["bucket"], connection["prefix"]
    checks: list[OperationCheck] = []
    readable: dict[str, Any] | None = None
    # An object can vanish between the listing and the read (the customer's, or another connection's): it is
    # sampled again from a new listing, never a failure.
    for _ in range(_SAMPLE_ATTEMPTS):
        listing = call_with_key(
            "s3:ListObjectsV2", s3.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=_LISTED_KEYS
        )
        objects = listing.get("Contents", [])
        checks = [passed("s3:ListObjectsV2", f"listed {len(objects)} object(s) under '{prefix}'")]
        readable = sample(objects)
        if readable is None:
            break
        with cors_probe.origin_header(s3, origins[0]) as seen:
            try:
                call_with_key(
                    "s3:GetObject", s3.get_object, Bucket=bucket, Key=readable["Key"], Range="bytes=0-0"
                )["Body"].read()
            except VerificationFailed as error:
                if "NoSuchKey" not in str(error):
                    raise
                readable = None
                continue
        fetched[origins[0]] = cors_probe.HttpAnswer(206, dict(seen))
        checks.append(passed("s3:GetObject", f"read the first byte of '{readable['Key']}'"))
        break
    if readable is None:
        checks.append(
            {
                "operation": "s3:GetObject",
                "outcome": "not_tried",
                "detail": "no non-empty object under the prefix that stayed there to be read",
            }
        )
    return checks, readable


def check_access(
    s3: S3Client,
    dynamodb: DynamoDBClient,
    connection: Connection,
    cors: Mapping[str, Any],
    settings: Settings | None = None,
    settling: int | None = None,
) -> list[OperationCheck]:
    """Every check of Verify access, raising on the first that fails."""
    origins = probe_origins(settings)
    fetched: dict[str, cors_probe.HttpAnswer] = {}
    checks, readable = read_access(s3, connection, origins, fetched)
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
        written = call_with_key("s3:PutObject", s3.put_object, Bucket=bucket, Key=key, Body=PROBE_BODY)
        body = call_with_key("s3:GetObject", s3.get_object, Bucket=bucket, Key=key)["Body"].read()
        deleted = delete_probe(s3, bucket, key, written.get("VersionId"))
    if body != PROBE_BODY:
        raise VerificationFailed(f"the probe object '{key}' read back different bytes")
    return [
        passed("s3:PutObject", f"wrote probe '{key}'"),
        passed("s3:GetObject (probe)", "read the probe back"),
        deleted,
    ]


def delete_probe(s3: S3Client, bucket: str, key: str, version_id: str | None) -> OperationCheck:
    """Leave nothing behind, also in a versioned bucket.

    There a DeleteObject without VersionId keeps the probe as a noncurrent version and adds a delete marker,
    on every verification; deleting the version PutObject returned removes it for good. Without a version id
    (versioning never enabled, or suspended) a delete marker can still be made: it is removed by its own id.
    """
    if version_id:
        call_with_key(
            "s3:DeleteObjectVersion", s3.delete_object, Bucket=bucket, Key=key, VersionId=version_id
        )
        return passed("s3:DeleteObjectVersion", "deleted the probe's version")
    answer = call_with_key("s3:DeleteObject", s3.delete_object, Bucket=bucket, Key=key)
    if answer.get("DeleteMarker") and answer.get("VersionId"):
        call_with_key(
            "s3:DeleteObjectVersion", s3.delete_object, Bucket=bucket, Key=key, VersionId=answer["VersionId"]
        )
        return passed("s3:DeleteObject", "deleted the probe and the delete marker it left")
    return passed("s3:DeleteObject", "deleted the probe")
