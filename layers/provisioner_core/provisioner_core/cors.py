"""Merging a connection's own rule into a bucket's CORS configuration, and taking it out again.

Each connection owns one rule, `labellerr-<connection_id>`: who owns a rule is read off the bucket itself,
so a retried step, a crashed one, or a connection leaving while another stays can never lose track of it.
PutBucketCors replaces the whole configuration, so every other rule is carried over untouched.

S3's bucket configuration is eventually consistent: a read soon after a write may answer the configuration
from before it. A read-merge-write on such a read would drop the change just made (another connection's
rule, or an offboarding's removal), so every writer waits, still holding the bucket's lease, until S3 answers
its own write (write_rules): the next holder of the lease then reads a configuration no older than it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from provisioner_core import aws
from provisioner_core.aws import error_code
from provisioner_core.config import CORS_RULE_ID_PREFIX
from provisioner_core.errors import CorsRuleLimitExceeded

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CORSRuleTypeDef

MAX_CORS_RULES = 100
# How long a writer waits for S3 to answer its own write (a step's Lambda has 30 s); past it, the run goes
# on and Verify access waits for the rule (CorsNotYetVisible).
SETTLE_WAIT_SECONDS = 15.0
_FIRST_PAUSE_SECONDS = 0.25
_LONGEST_PAUSE_SECONDS = 2.0
# What Labellerr's viewer reads back from a ranged image request; cors_probe checks the same list.
REQUIRED_EXPOSE_HEADERS = ("ETag", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges")
_COMPARED_FIELDS = ("AllowedOrigins", "AllowedMethods", "AllowedHeaders", "ExposeHeaders")


def rule_id_for(connection_id: str) -> str:
    return f"{CORS_RULE_ID_PREFIX}{connection_id}"


def is_connection_rule(rule: dict[str, Any]) -> bool:
    """A rule some connection of this provisioner owns (and may take away when it leaves)."""
    return str(rule.get("ID", "")).startswith(CORS_RULE_ID_PREFIX)


def labellerr_rule(origins: Sequence[str], rule_id: str) -> dict[str, Any]:
    return {
        "ID": rule_id,
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": list(REQUIRED_EXPOSE_HEADERS),
        "MaxAgeSeconds": 3600,
    }


def _same_effect(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(sorted(a.get(f, [])) == sorted(b.get(f, [])) for f in _COMPARED_FIELDS) and a.get(
        "MaxAgeSeconds"
    ) == b.get("MaxAgeSeconds")


def find_customer_equivalent(rules: Sequence[dict[str, Any]], rule: dict[str, Any]) -> dict[str, Any] | None:
    """A customer's own rule that grants exactly what `rule` grants.

    Another connection's rule never counts: it leaves with that connection.
    """
    return next((r for r in rules if not is_connection_rule(r) and _same_effect(r, rule)), None)


def merge_rule(rules: Sequence[dict[str, Any]], rule: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The configuration with `rule` in it, or None when nothing needs to change.

    A rule with the same ID is this connection's (one live run per connection id): it is brought up to
    date in place rather than duplicated.
    """
    position = next((i for i, r in enumerate(rules) if r.get("ID") == rule["ID"]), None)
    if position is not None:
        if rules[position] == rule:
            return None
        return [*rules[:position], rule, *rules[position + 1 :]]
    if len(rules) >= MAX_CORS_RULES:
        raise CorsRuleLimitExceeded(
            f"the bucket already has {len(rules)} CORS rules; S3 allows {MAX_CORS_RULES}"
        )
    return [*rules, rule]


def planned_configuration(
    rules: Sequence[dict[str, Any]], rule: dict[str, Any]
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """(the configuration to put, or None when nothing changes; the customer's rule that already grants
    exactly what `rule` grants, which then stays theirs and ours is not added)."""
    customer_rule = find_customer_equivalent(rules, rule)
    if customer_rule is not None and not any(r.get("ID") == rule["ID"] for r in rules):
        return None, customer_rule
    return merge_rule(rules, rule), None


def current_rules(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    try:
        # Plain dicts to the merging code, which compares and copies them as they are.
        return cast("list[dict[str, Any]]", list(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]))
    except ClientError as error:
        if error_code(error) == "NoSuchCORSConfiguration":
            return []
        raise


def without_rule(rules: Sequence[Mapping[str, Any]], rule_id: str) -> list[Mapping[str, Any]]:
    return [r for r in rules if r.get("ID") != rule_id]


def _fingerprint(rules: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """What tells two configurations apart (GetBucketCors may leave out empty lists PutBucketCors took)."""
    return [(r.get("ID"), *(tuple(r.get(name) or ()) for name in _COMPARED_FIELDS)) for r in rules]


def write_rules(s3: S3Client, bucket: str, rules: Sequence[Mapping[str, Any]]) -> bool:
    """PutBucketCors (DeleteBucketCors for no rules), then wait until GetBucketCors answers this
    configuration: call it holding the bucket's lease. False when S3 still answered an older one after
    SETTLE_WAIT_SECONDS."""
    if rules:
        # S3's own rules, as current_rules read them, and ours (cors.labellerr_rule): its CORSRule shape.
        s3_rules = cast("list[CORSRuleTypeDef]", list(rules))
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": s3_rules})
    else:
        s3.delete_bucket_cors(Bucket=bucket)
    expected, waited, pause = _fingerprint(rules), 0.0, _FIRST_PAUSE_SECONDS
    # Counted in the waits asked for, not by a clock, so a shortened wait (the local stack's) counts in full.
    while _fingerprint(current_rules(s3, bucket)) != expected:
        if waited >= SETTLE_WAIT_SECONDS:
            return False
        aws.pause(pause)
        waited += pause
        pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)
    return True
