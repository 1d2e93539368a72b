"""IAM policy matching as AWS documents it (IAM User Guide, "Policy evaluation logic", "Condition
operators"), for the local stack's own checks: actions and resources with `*` and `?`, Principal, and
Condition blocks.

moto treats every condition as satisfied and ignores Principal; the modules that enforce KMS and bucket
policies for issued keys use this instead. Written here, not shared with provisioner_core.bucket_facts: the
local stack is the oracle Validate request's checks are tested against.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Mapping
from typing import Any


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def wildcard(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's `*` (any run) and `?` (one character); no character classes, unlike fnmatch's `[`."""
    escaped = pattern.replace("[", "[[]")
    if case_sensitive:
        return fnmatch.fnmatchcase(value, escaped)
    return fnmatch.fnmatchcase(value.lower(), escaped.lower())


def action_matches(statement: Mapping[str, Any], action: str) -> bool:
    """Action names are case-insensitive in IAM."""
    if "NotAction" in statement:
        return not any(
            wildcard(str(p), action, case_sensitive=False) for p in as_list(statement["NotAction"])
        )
    return any(wildcard(str(p), action, case_sensitive=False) for p in as_list(statement.get("Action")))


def resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard(str(p), resource) for p in as_list(statement["NotResource"]))
    return any(wildcard(str(p), resource) for p in as_list(statement.get("Resource")))


def principal_matches(statement: Mapping[str, Any], principal_arn: str, account_id: str) -> bool:
    """A resource-based policy's Principal (or NotPrincipal): `*`, the account (id or root ARN), the ARN."""

    def named(value: Any) -> bool:
        if value == "*":
            return True
        names = as_list(value.get("AWS")) if isinstance(value, dict) else as_list(value)
        return any(
            str(n) in ("*", principal_arn, account_id) or str(n).endswith(f":iam::{account_id}:root")
            for n in names
        )

    if "NotPrincipal" in statement:
        return not named(statement["NotPrincipal"])
    return "Principal" in statement and named(statement["Principal"])


_NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def _one(operator: str, actual: str, expected: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return actual == expected
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if operator in ("StringLike", "ArnLike"):
        return wildcard(expected, actual)
    if operator == "Bool":
        return actual.lower() == expected.lower()
    if operator == "IpAddress":
        try:
            return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
        except ValueError:
            return False
    # An operator this module does not know never matches: a Deny using it is not applied, an Allow not
    # granted. Say so rather than guess.
    raise NotImplementedError(f"condition operator {operator!r}")


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Every operator and every key must hold (AND); any of a key's values may match (OR).

    A key absent from the request: `...IfExists` holds, the negated operators hold, `Null: true` holds, any
    other operator does not. Key names are case-insensitive.
    """
    values = {key.lower(): value for key, value in context.items() if value is not None}
    for raw_operator, entries in condition.items():
        set_prefix, _, operator = raw_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, expected_values in (entries or {}).items():
            expected = [str(v) for v in as_list(expected_values)]
            present = key.lower() in values
            if operator == "Null":
                if (not present) != (expected[0].lower() == "true"):
                    return False
                continue
            if not present:
                if if_exists or operator in _NEGATIONS or set_prefix == "ForAllValues":
                    continue
                return False
            actual = [str(v) for v in as_list(values[key.lower()])]
            base = _NEGATIONS.get(operator, operator)
            matched = [any(_one(base, a, e) for e in expected) for a in actual]
            holds = all(matched) if set_prefix == "ForAllValues" else any(matched)
            if operator in _NEGATIONS:
                holds = not any(matched)
            if not holds:
                return False
    return True
