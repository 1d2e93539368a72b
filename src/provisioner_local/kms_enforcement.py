"""SSE-KMS as S3 and KMS apply it to requests signed with issued keys.

AWS's rules (S3 User Guide, "Using server-side encryption with AWS KMS keys"; KMS Developer Guide,
"Determining access to an AWS KMS key"):
- reading an SSE-KMS object (GetObject, HeadObject) needs kms:Decrypt on the object's key; writing one
  (PutObject under SSE-KMS, asked for or the bucket's default) needs kms:GenerateDataKey;
- S3 calls KMS on the caller's behalf, so the request's context has
  kms:ViaService = s3.<region>.amazonaws.com, kms:CallerAccount, and the encryption context
  kms:EncryptionContext:aws:s3:arn = the object's ARN;
- the key policy decides first: it must allow the principal itself, or allow the account (its root ARN), in
  which case the principal's IAM policies must allow the action too; an explicit Deny in either wins;
- the AWS-managed key aws/s3 lets every principal of the account use it through S3: nothing to grant.

S3 then refuses the request 403 AccessDenied, naming the kms: action (for example "User: <arn> is not
authorized to perform: kms:Decrypt on resource: <key arn> because no identity-based policy allows the
kms:Decrypt action"). moto checks none of this: a user with s3:GetObject alone reads an SSE-KMS object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner_local.policy_conditions import (
    action_matches,
    as_list,
    condition_holds,
    principal_matches,
    resource_matches,
)

AWS_MANAGED_S3_ALIAS = "alias/aws/s3"


@dataclass(frozen=True)
class KmsUse:
    """One use of a key by S3 on a principal's behalf."""

    principal_arn: str
    account_id: str
    action: str
    key_arn: str
    region: str
    object_arn: str

    def context(self) -> dict[str, Any]:
        return {
            "kms:ViaService": f"s3.{self.region}.amazonaws.com",
            "kms:CallerAccount": self.account_id,
            "kms:EncryptionContext:aws:s3:arn": self.object_arn,
            "aws:PrincipalArn": self.principal_arn,
            "aws:PrincipalAccount": self.account_id,
        }


def _applies(statement: Mapping[str, Any], use: KmsUse, *, resource_policy: bool) -> bool:
    if resource_policy and not principal_matches(statement, use.principal_arn, use.account_id):
        return False
    if not (action_matches(statement, use.action) and resource_matches(statement, use.key_arn)):
        return False
    try:
        return condition_holds(statement.get("Condition") or {}, use.context())
    except NotImplementedError:
        return False


def _effects(documents: Iterable[Mapping[str, Any]], use: KmsUse, *, resource_policy: bool) -> set[str]:
    return {
        str(statement.get("Effect"))
        for document in documents
        for statement in as_list(document.get("Statement"))
        if _applies(statement, use, resource_policy=resource_policy)
    }


def _allows_account(key_policy: Mapping[str, Any], use: KmsUse) -> bool:
    """An Allow for the account itself (root): the key lets IAM policies decide."""
    for statement in as_list(key_policy.get("Statement")):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        names = as_list(principal.get("AWS")) if isinstance(principal, dict) else as_list(principal)
        account_named = any(str(n) in (use.account_id, f"arn:aws:iam::{use.account_id}:root") for n in names)
        if account_named and _applies(statement, use, resource_policy=True):
            return True
    return False


def refusal(
    key_policy: Mapping[str, Any], identity_policies: Iterable[Mapping[str, Any]], use: KmsUse
) -> str | None:
    """S3's AccessDenied message when KMS would refuse this use, else None."""
    identity = _effects(list(identity_policies), use, resource_policy=False)
    key = _effects([key_policy], use, resource_policy=True)
    head = f"User: {use.principal_arn} is not authorized to perform: {use.action} on resource: {use.key_arn}"
    if "Deny" in key:
        return f"{head} with an explicit deny in a resource-based policy"
    if "Deny" in identity:
        return f"{head} with an explicit deny in an identity-based policy"
    if "Allow" in key and not _allows_account(key_policy, use):
        # The key policy names the principal (or everyone): IAM policies are not needed.
        return None
    if not _allows_account(key_policy, use):
        return f"{head} because no resource-based policy allows the {use.action} action"
    if "Allow" not in identity:
        return f"{head} because no identity-based policy allows the {use.action} action"
    return None


def object_key_id(s3_object: Any) -> str | None:
    """The KMS key an existing object was written with (moto keeps the id as given: alias, id or ARN)."""
    if s3_object is None or getattr(s3_object, "encryption", None) not in ("aws:kms", "aws:kms:dsse"):
        return None
    return str(getattr(s3_object, "kms_key_id", None) or AWS_MANAGED_S3_ALIAS)


def put_key_id(bucket: Any, headers: Mapping[str, str]) -> str | None:
    """The key a PutObject would use: the request's SSE-KMS headers, else the bucket's default."""
    lowered = {k.lower(): v for k, v in headers.items()}
    algorithm = lowered.get("x-amz-server-side-encryption")
    if algorithm:
        if not algorithm.startswith("aws:kms"):
            return None
        return lowered.get("x-amz-server-side-encryption-aws-kms-key-id") or AWS_MANAGED_S3_ALIAS
    default = ((getattr(bucket, "encryption", None) or {}).get("Rule") or {}).get(
        "ApplyServerSideEncryptionByDefault"
    ) or {}
    if not str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
        return None
    return str(default.get("KMSMasterKeyID") or AWS_MANAGED_S3_ALIAS)


# S3 passes KMS's own refusal on when the object's key cannot be used (KMS Developer Guide, "Key states of
# AWS KMS keys": a disabled key, or one pending deletion, cannot be used in cryptographic operations; S3
# answers with the KMS exception's name, prefixed "KMS.").
STATE_REFUSALS = {
    "Disabled": ("KMS.DisabledException", "{arn} is disabled."),
    "PendingDeletion": ("KMS.KMSInvalidStateException", "{arn} is pending deletion."),
}


def state_refusal(key_state: str, key_arn: str) -> tuple[str, str] | None:
    """(S3's error code, its message) when the key's state forbids using it, else None."""
    refused = STATE_REFUSALS.get(key_state)
    return None if refused is None else (refused[0], refused[1].format(arn=key_arn))
