"""The bucket policy, where readable: an explicit Deny that certainly stops the issued user fails the run.

An explicit deny in a resource-based policy beats any permission the provisioner can grant, so it is found
before anything is created. Conditions are evaluated against what is known of every request the issued key
will make; a Deny that hangs on a value unknown here (say aws:SourceIp) is reported, not failed on.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.bucket_reads import UNREADABLE, Tri
from provisioner_core.errors import BucketPolicyDenies
from provisioner_core.policy_statements import action_matches, as_list

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _condition_value(context: Mapping[str, Any], key: str) -> Any:
    """The value of a condition key for the issued user's requests; KeyError when it cannot be known."""
    lowered = {k.lower(): v for k, v in context.items()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    raise KeyError(key)


def _matches_one(operator: str, actual: str, expected: str) -> bool:
    base = operator.removesuffix("IfExists")
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(actual, expected)
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base == "IpAddress":
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    raise KeyError(operator)


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> Tri:
    """Every operator and key of a Condition block against the known context: yes, no, or unknown."""
    result: Tri = "yes"
    for operator, entries in condition.items():
        for key, values in (entries or {}).items():
            expected = [str(v) for v in as_list(values)]
            try:
                actual = _condition_value(context, key)
            except KeyError:
                result = "unknown"
                continue
            if operator.startswith("ForAnyValue:") or operator.startswith("ForAllValues:"):
                result = "unknown"
                continue
            if operator == "Null":
                holds = (actual is None) == (expected[0].lower() == "true")
            elif actual is None:
                # An absent key: a negated operator (and ...IfExists) holds, any other does not.
                holds = operator.removesuffix("IfExists") in _NEGATED or operator.endswith("IfExists")
            else:
                values_ = [str(v) for v in as_list(actual)]
                base = operator.removesuffix("IfExists")
                try:
                    if base in _NEGATED:
                        holds = not any(_matches_one(_NEGATED[base], a, e) for a in values_ for e in expected)
                    else:
                        holds = any(_matches_one(base, a, e) for a in values_ for e in expected)
                except (KeyError, ValueError):
                    result = "unknown"
                    continue
            if not holds:
                return "no"
    return result


def _principal_matches(statement: Mapping[str, Any], principal_arn: str, account_id: str) -> bool:
    def named(value: Any) -> bool:
        if value == "*":
            return True
        candidates = as_list(value.get("AWS")) if isinstance(value, dict) else as_list(value)
        return any(
            str(c) in ("*", principal_arn, account_id, f"arn:aws:iam::{account_id}:root") for c in candidates
        )

    if "NotPrincipal" in statement:
        return not named(statement["NotPrincipal"])
    return named(statement.get("Principal"))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(fnmatch.fnmatchcase(resource, str(p)) for p in as_list(statement["NotResource"]))
    return any(fnmatch.fnmatchcase(resource, str(p)) for p in as_list(statement.get("Resource")))


def _statement_action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not action_matches(as_list(statement["NotAction"]), action)
    return action_matches(as_list(statement.get("Action")), action)


def explicit_denies(
    policy: Mapping[str, Any],
    principal_arn: str,
    account_id: str,
    requests: Iterable[tuple[str, str]],
    context: Mapping[str, Any],
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(certain, possible): Deny statements that stop (action, resource) for the principal, with the context
    known for the issued key's requests; `possible` ones depend on a value unknown here (say aws:SourceIp)."""
    certain: list[dict[str, str]] = []
    possible: list[dict[str, str]] = []
    for index, statement in enumerate(as_list(policy.get("Statement"))):
        if statement.get("Effect") != "Deny" or not _principal_matches(statement, principal_arn, account_id):
            continue
        for action, resource in requests:
            if not (_statement_action_matches(statement, action) and _resource_matches(statement, resource)):
                continue
            holds = condition_holds(statement.get("Condition") or {}, context)
            entry = {"sid": str(statement.get("Sid") or f"#{index}"), "action": action, "resource": resource}
            if holds == "yes":
                certain.append(entry)
                break
            if holds == "unknown":
                possible.append(entry)
                break
    return certain, possible


def inspect_bucket_policy(
    s3: S3Client,
    *,
    bucket: str,
    prefix: str,
    partition: str,
    access: str,
    principal_arn: str,
    account_id: str,
    sample_key: str,
) -> dict[str, Any]:
    try:
        text = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as error:
        code = error_code(error)
        if code == "NoSuchBucketPolicy":
            return {"status": "none"}
        if code in UNREADABLE or code == "MethodNotAllowed":
            return {"status": "unreadable"}
        raise
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{sample_key or prefix + 'example'}"
    requests = [("s3:ListBucket", bucket_arn), ("s3:GetObject", object_arn)]
    if access == "import_export":
        requests += [("s3:PutObject", object_arn), ("s3:DeleteObject", object_arn)]
    # What is known of every request the issued key will make: its principal, and TLS (Labellerr uses
    # HTTPS). Its source IP and VPC endpoint are Labellerr's: a VPC endpoint of this account it has none.
    context = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalType": "User",
        "aws:username": principal_arn.rsplit("/", 1)[-1],
        "aws:SecureTransport": "true",
        "aws:SourceVpce": None,
        "aws:SourceVpc": None,
        "s3:prefix": prefix,
    }
    try:
        document = json.loads(text)
    except ValueError:
        return {"status": "unreadable"}
    certain, possible = explicit_denies(document, principal_arn, account_id, requests, context)
    if certain:
        first = certain[0]
        users = principal_arn.rsplit("/", 1)[0] + "/*"
        raise BucketPolicyDenies(
            f"the bucket policy of {bucket!r} has an explicit Deny (statement {first['sid']!r}) that stops "
            f"the connection's IAM user from {first['action']} on {first['resource']}: an explicit deny in a "
            "resource-based policy beats any permission the provisioner can grant. Exempt the user (for "
            f'example with a condition "ArnNotLike": {{"aws:PrincipalArn": "{users}"}}) '
            "or narrow the Deny, then try again"
        )
    found: dict[str, Any] = {"status": "read", "explicit_denies": []}
    if possible:
        found["possible_denies"] = sorted({entry["sid"] for entry in possible})
    return found
