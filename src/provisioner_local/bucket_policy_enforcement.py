"""Explicit Deny in a bucket policy, as S3 applies it to requests signed with issued keys.

AWS's rule (IAM User Guide, "Policy evaluation logic"): an explicit Deny in any applicable policy (identity-
or resource-based) overrides every Allow; permissions boundaries do not limit resource-based policies. S3
answers such a same-account request 403 AccessDenied with a message that names the kind of policy:
"User: <arn> is not authorized to perform: <action> on resource: "<arn>" with an explicit deny in a
resource-based policy".

moto evaluates bucket policies only for object requests, for everybody, ignoring Principal and Condition, and
answers a bare 403 with no body. The local stack turns that off (`install`) and applies bucket policies here
instead, with the request's context: aws:PrincipalArn, aws:PrincipalAccount, aws:username, aws:userid,
aws:SourceIp (the client's address), aws:SecureTransport (true: the loopback endpoint stands in for S3's
HTTPS one; Labellerr only uses HTTPS) and s3:prefix. aws:SourceVpce and aws:SourceVpc are absent: nothing
comes through a VPC endpoint here. Requests not signed with an issued key are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner_local.moto_targets import S3_GET_PERMISSION, PatchSet
from provisioner_local.policy_conditions import (
    action_matches,
    as_list,
    condition_holds,
    principal_matches,
    resource_matches,
)


@dataclass(frozen=True)
class S3Request:
    """What S3 knows of one request signed with an issued key."""

    principal_arn: str
    account_id: str
    user_name: str
    user_id: str
    action: str
    resource: str
    source_ip: str = "127.0.0.1"
    prefix: str | None = None

    def context(self) -> dict[str, Any]:
        return {
            "aws:PrincipalArn": self.principal_arn,
            "aws:PrincipalAccount": self.account_id,
            "aws:PrincipalType": "User",
            "aws:username": self.user_name,
            "aws:userid": self.user_id,
            "aws:SourceIp": self.source_ip,
            "aws:SecureTransport": "true",
            "s3:prefix": self.prefix,
        }


def denied_message(principal_arn: str, action: str, resource: str) -> str:
    return (
        f'User: {principal_arn} is not authorized to perform: {action} on resource: "{resource}" '
        "with an explicit deny in a resource-based policy"
    )


def explicit_deny(policy: Mapping[str, Any], request: S3Request) -> str | None:
    """The Sid (or `#index`) of the first Deny statement that applies to the request, if any."""
    context = request.context()
    for index, statement in enumerate(as_list(policy.get("Statement"))):
        if statement.get("Effect") != "Deny":
            continue
        if not principal_matches(statement, request.principal_arn, request.account_id):
            continue
        if not (action_matches(statement, request.action) and resource_matches(statement, request.resource)):
            continue
        try:
            applies = condition_holds(statement.get("Condition") or {}, context)
        except NotImplementedError:
            applies = False
        if applies:
            return str(statement.get("Sid") or f"#{index}")
    return None


def check(policy_text: bytes | str | None, request: S3Request) -> str | None:
    """S3's message when the bucket policy explicitly denies the request, else None."""
    if not policy_text:
        return None
    text = policy_text.decode() if isinstance(policy_text, bytes) else policy_text
    try:
        policy = json.loads(text)
    except ValueError:
        return None
    if explicit_deny(policy, request) is None:
        return None
    return denied_message(request.principal_arn, request.action, request.resource)


def install(patches: PatchSet) -> None:
    """moto's own object-request check (conditions and Principal ignored, everyone refused) is replaced by
    `check`, which the stack applies to issued keys; an Allow moto finds still counts (public reads)."""
    from moto.iam.access_control import PermissionResult

    original = S3_GET_PERMISSION.original()

    def get_permission(bucket: Any, action: str, resource: str) -> Any:
        result = original(bucket, action, resource)
        return PermissionResult.NEUTRAL if result == PermissionResult.DENIED else result

    patches.set(S3_GET_PERMISSION, get_permission)
