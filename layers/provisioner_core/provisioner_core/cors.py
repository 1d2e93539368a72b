"""Merging the Labellerr rule into a bucket's CORS configuration, and taking it out again.

PutBucketCors replaces the whole configuration, so every existing rule is carried over untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provisioner_core.config import CORS_RULE_ID
from provisioner_core.errors import CorsRuleConflict, CorsRuleLimitExceeded

MAX_CORS_RULES = 100
_COMPARED_FIELDS = ("AllowedOrigins", "AllowedMethods", "AllowedHeaders", "ExposeHeaders")


def labellerr_rule(origins: Sequence[str]) -> dict[str, Any]:
    return {
        "ID": CORS_RULE_ID,
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "MaxAgeSeconds": 3600,
    }


def _same_effect(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(sorted(a.get(f, [])) == sorted(b.get(f, [])) for f in _COMPARED_FIELDS) and a.get(
        "MaxAgeSeconds"
    ) == b.get("MaxAgeSeconds")


def find_equivalent(rules: Sequence[dict[str, Any]], rule: dict[str, Any]) -> dict[str, Any] | None:
    """An existing rule that grants exactly what `rule` grants, whatever its ID."""
    return next((r for r in rules if _same_effect(r, rule)), None)


def merge_rule(rules: Sequence[dict[str, Any]], rule: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The configuration with `rule` appended, or None when an equivalent rule is already there."""
    if find_equivalent(rules, rule) is not None:
        return None
    clash = next((r for r in rules if r.get("ID") == rule["ID"]), None)
    if clash is not None:
        raise CorsRuleConflict(
            f"the bucket already has a CORS rule with ID {rule['ID']!r} that differs from the one this "
            f"stack adds (origins {clash.get('AllowedOrigins')}, methods {clash.get('AllowedMethods')}); "
            "remove or align it, or set apply_cors to false"
        )
    if len(rules) >= MAX_CORS_RULES:
        raise CorsRuleLimitExceeded(
            f"the bucket already has {len(rules)} CORS rules; S3 allows {MAX_CORS_RULES}"
        )
    return [*rules, rule]


def without_rule(rules: Sequence[dict[str, Any]], rule_id: str) -> list[dict[str, Any]]:
    return [r for r in rules if r.get("ID") != rule_id]
