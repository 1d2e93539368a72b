"""The health check's look at the connection the way Labellerr uses it: the key from the secret lists and
reads the prefix, the browser's CORS is judged by what S3 answers, an import_export key writes its probe,
and Labellerr still has each recorded connection and its own test of the key passes.

A refusal is classified from S3's words (key_access): an explicit deny in the bucket policy, KMS, a bucket
that is gone, or a key IAM no longer honours; each is a failed finding (BROKEN), never a retry: a health
check looks, it does not wait for propagation (its key is months old).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from provisioner_core import aws, cors_probe, key_access
from provisioner_core.cors import rule_id_for
from provisioner_core.errors import AccessDeniedByPolicy, AccessNotYetEffective, VerificationFailed
from provisioner_core.health import finding
from provisioner_core.labellerr import S3Credentials
from provisioner_core.labellerr_errors import LabellerrRejected, LabellerrTestFailed, LabellerrUnavailable
from provisioner_core.labellerr_handoff import test_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from provisioner_core.connection import Connection
    from provisioner_core.contracts.checks import OperationCheck
    from provisioner_core.contracts.health import HealthFinding
    from provisioner_core.health_owned import KeyInHand
    from provisioner_core.labellerr import LabellerrClient


def refusal_finding(error: Exception) -> HealthFinding:
    """A read or write with the key that failed, named by what refused it."""
    text = str(error)
    if "NoSuchBucket" in text:
        return finding("bucket", "failed", f"the bucket is gone: {text}")
    if isinstance(error, AccessDeniedByPolicy):
        check = "bucket_policy" if "bucket policy" in text else "kms" if "KMS" in text else "access"
        return finding(
            check, "failed", f"{text}. A person must change that policy; the provisioner never edits it"
        )
    if "KMS" in text or "kms" in text:
        return finding("kms", "failed", f"the bucket's KMS key is not usable by the key: {text}")
    return finding("access", "failed", f"Labellerr's key is refused: {text}")


def key_client(key: KeyInHand, region: str) -> S3Client:
    return aws.client_with_key(
        "s3", access_key_id=key.access_key_id, secret_access_key=key.secret_access_key, region_name=region
    )


def _summary(checks: list[OperationCheck]) -> str:
    return "; ".join(f"{c['operation']}: {c['detail']}" for c in checks)


def access_findings(
    s3: S3Client,
    dynamodb: DynamoDBClient,
    connection: Connection,
    cors: Mapping[str, Any],
    origins: list[str],
) -> list[HealthFinding]:
    """Reads, the browser, the write probe: each a finding; a refused read stops the rest (they would only
    repeat the refusal)."""
    fetched: dict[str, cors_probe.HttpAnswer] = {}
    try:
        reads, readable = key_access.read_access(s3, connection, origins, fetched)
    except (AccessDeniedByPolicy, AccessNotYetEffective, VerificationFailed) as refused:
        return [refusal_finding(refused)]
    found = [finding("read", "passed", _summary(reads))]
    found.append(cors_finding(s3, connection, cors, readable, origins, fetched))
    if connection["access"] == "import_export":
        try:
            written = key_access.check_write_access(s3, dynamodb, connection)
        except (AccessDeniedByPolicy, AccessNotYetEffective, VerificationFailed) as refused:
            broken = refusal_finding(refused)
            found.append({**broken, "check": "write"} if broken["check"] == "access" else broken)
        else:
            found.append(finding("write", "passed", _summary(written)))
    return found


def cors_finding(
    s3: S3Client,
    connection: Connection,
    cors: Mapping[str, Any],
    readable: dict[str, Any] | None,
    origins: list[str],
    fetched: dict[str, cors_probe.HttpAnswer],
) -> HealthFinding:
    """Judged by effect: the browser's requests are answered as Labellerr needs, by our rule or a customer's.
    Repairable when the connection applied CORS and its own rule is gone (a repair merges it back)."""
    try:
        checks, _ = key_access.browser_checks(s3, connection, cors, readable, origins, fetched)
    except (AccessDeniedByPolicy, AccessNotYetEffective, VerificationFailed) as refused:
        return finding(
            "cors", "not_tried", f"the CORS configuration could not be read with the key: {refused}"
        )
    bad = [
        c for c in checks if c["outcome"] in ("failed", "warning") and c["operation"] != "s3:GetBucketCors"
    ]
    rule_gone = any(c["operation"] == "s3:GetBucketCors" and c["outcome"] != "passed" for c in checks)
    if not bad:
        detail = "Labellerr's browser is served: " + _summary(checks)
        return finding("cors", "passed", detail)
    ours_gone = (
        bool(cors.get("applied"))
        and rule_gone
        and cors.get("rule_id") == rule_id_for(connection["connection_id"])
    )
    managed = (
        "" if cors.get("applied") else " (the customer manages this bucket's CORS: apply_cors was false)"
    )
    return finding(
        "cors", "warning", f"Labellerr's browser would not be served{managed}: {_summary(bad)}", ours_gone
    )


def labellerr_findings(
    make_client: Callable[[], LabellerrClient],
    dynamodb: DynamoDBClient,
    key: KeyInHand,
    connection: Connection,
    labellerr: Mapping[str, Any],
) -> list[HealthFinding]:
    """Each recorded Labellerr connection still exists there, and Labellerr's own test of the key passes.
    Labellerr not answering is `not_tried`: its outage is not this connection's sickness."""
    try:
        client = make_client()
        found: list[HealthFinding] = []
        for made in labellerr.get("connections") or []:
            labellerr_id, kind = str(made["labellerr_connection_id"]), str(made["connection_type"])
            if client.connection_details(labellerr_id) is None:
                found.append(
                    finding(
                        "labellerr_connection",
                        "warning",
                        f"Labellerr no longer has the {kind} connection {labellerr_id} (deleted there?); "
                        "offboard and onboard again to register it anew",
                    )
                )
                continue
            try:
                tested = test_key(
                    client,
                    dynamodb,
                    S3Credentials(key.access_key_id, key.secret_access_key),
                    connection,
                    kind,
                )
            except LabellerrTestFailed as failed:
                found.append(
                    finding("labellerr_test", "warning", f"Labellerr's {kind} test failed: {failed}")
                )
            else:
                found.append(finding("labellerr_test", "passed", f"{kind}: {tested['detail']}"))
        return found
    except (LabellerrUnavailable, LabellerrRejected) as error:
        return [finding("labellerr_test", "not_tried", f"Labellerr could not be asked: {error}")]
