"""The KMS keys a bucket encrypts with: resolved to their ARN, AWS-managed or the customer's, and whether a
customer key's policy lets an IAM policy grant its use.

A customer-managed key whose key policy, where readable, lets no IAM policy grant its use fails the run: the
provisioner never edits a key policy, so the connection's key could never decrypt the bucket's objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.bucket_reads import UNREADABLE
from provisioner_core.errors import KmsKeyNotUsable
from provisioner_core.policy_statements import action_matches, as_list

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

AWS_MANAGED_S3_ALIAS = "alias/aws/s3"

Grant = Literal["yes", "conditional", "no"]


def describe_key(kms: KMSClient, key_id: str) -> dict[str, Any]:
    try:
        return dict(kms.describe_key(KeyId=key_id)["KeyMetadata"])
    except ClientError as error:
        code = error_code(error)
        if code == "NotFoundException":
            raise KmsKeyNotUsable(
                f"KMS key {key_id!r} used by the bucket does not exist in its region: S3 cannot decrypt "
                "with it either; fix the bucket's default encryption"
            ) from None
        if code in UNREADABLE:
            if key_id.startswith("arn:"):
                return {"Arn": key_id, "KeyManager": "UNKNOWN", "KeyState": "UNKNOWN"}
            raise KmsKeyNotUsable(
                f"KMS key {key_id!r} could not be resolved to a key ARN (kms:DescribeKey was refused): "
                "give the bucket's default encryption the key's ARN, or let the provisioner describe the key"
            ) from None
        raise


def is_aws_managed(key_id: str, metadata: Mapping[str, Any]) -> bool:
    return metadata.get("KeyManager") == "AWS" or key_id.endswith(AWS_MANAGED_S3_ALIAS)


def kms_actions(access: str) -> list[str]:
    return ["kms:Decrypt", "kms:GenerateDataKey"] if access == "import_export" else ["kms:Decrypt"]


def key_policy_grant(policy: Mapping[str, Any], account_id: str, action: str) -> Grant:
    """Whether the key policy lets the connection's user use the key for `action`: "yes" when an Allow for the
    account's root (or the account id) covers it without conditions, so the user's IAM policy decides (AWS's
    default "Enable IAM User Permissions"); "conditional" when such an Allow, or one for every principal
    (`*`), has conditions this check does not evaluate (kms:CallerAccount, kms:ViaService, ...): not a reason
    to fail; "no" otherwise."""
    root = {
        f"arn:aws:iam::{account_id}:root",
        f"arn:aws-cn:iam::{account_id}:root",
        f"arn:aws-us-gov:iam::{account_id}:root",
        account_id,
    }
    found: Grant = "no"
    for statement in as_list(policy.get("Statement")):
        if statement.get("Effect") != "Allow" or not action_matches(as_list(statement.get("Action")), action):
            continue
        principal = statement.get("Principal")
        named = as_list(principal.get("AWS")) if isinstance(principal, dict) else as_list(principal)
        principals = {str(p) for p in named}
        if root & principals and not statement.get("Condition"):
            return "yes"
        if root & principals or "*" in principals:
            found = "conditional"
    return found


def key_policy_denies(policy: Mapping[str, Any], action: str) -> bool:
    """An unconditional Deny of `action` to everybody: no IAM policy can overcome it."""
    for statement in as_list(policy.get("Statement")):
        if statement.get("Effect") != "Deny" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue
        if action_matches(as_list(statement.get("Action")), action):
            return True
    return False


def check_key_policy(kms: KMSClient, key_arn: str, account_id: str, access: str) -> str:
    """`ok`, `conditional` (allowed under conditions not checked here) or `unreadable`; raises KmsKeyNotUsable
    saying what the key policy needs."""
    try:
        document = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    except ClientError as error:
        if error_code(error) in UNREADABLE:
            return "unreadable"
        raise
    needed = kms_actions(access)
    denied = [a for a in needed if key_policy_denies(document, a)]
    grants = {a: key_policy_grant(document, account_id, a) for a in needed}
    missing = [a for a, grant in grants.items() if grant == "no"]
    if denied or missing:
        raise KmsKeyNotUsable(
            f"the key policy of KMS key {key_arn} does not let IAM policies grant "
            f"{' and '.join(denied or missing)}, so the connection's key could never decrypt the bucket's "
            f"objects. The key policy needs a statement allowing principal "
            f'{{"AWS": "arn:aws:iam::{account_id}:root"}} the action(s) {", ".join(needed)} without '
            'conditions (AWS\'s default "Enable IAM User Permissions" statement does this)'
            + (f", and no Deny of {', '.join(denied)} to every principal" if denied else "")
            + "; the provisioner never edits a key policy"
        )
    return "ok" if all(grant == "yes" for grant in grants.values()) else "conditional"
