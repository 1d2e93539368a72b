"""Removing what a connection created, one idempotent operation at a time (NotFound means done).

Rollback uses these with "tagged by this execution" as proof of ownership; anything else is never touched.
Order matters for IAM: keys and attachments go before the user, attachments before the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from provisioner_core import registry
from provisioner_core.aws import error_code
from provisioner_core.config import CORS_RULE_ID
from provisioner_core.cors import without_rule
from provisioner_core.errors import RollbackIncomplete
from provisioner_core.lease import bucket_lease

Owned = Callable[[list[dict[str, Any]]], bool]
GONE = frozenset({"NoSuchEntity", "ResourceNotFoundException", "NoSuchCORSConfiguration", "NoSuchBucket"})


class NotOwned(Exception):
    """The resource exists but carries no proof that this run made it: leave it alone."""


def _gone(error: ClientError) -> bool:
    return error_code(error) in GONE


def user_is_owned(iam: Any, user_name: str, owned: Owned) -> bool | None:
    """True/False for an existing user, None when there is no such user."""
    try:
        tags = iam.list_user_tags(UserName=user_name)["Tags"]
    except ClientError as error:
        if _gone(error):
            return None
        raise
    return owned(tags)


def delete_access_keys(iam: Any, user_name: str) -> list[str]:
    deleted = []
    try:
        keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    except ClientError as error:
        if _gone(error):
            return []
        raise
    for key in keys:
        try:
            iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
        except ClientError as error:
            if not _gone(error):
                raise
        deleted.append(key["AccessKeyId"])
    return deleted


def delete_secret(secrets: Any, secret_name: str, owned: Owned) -> str | None:
    """The deleted secret's ARN, or None when there was none. No recovery window: the name is reusable."""
    try:
        described = secrets.describe_secret(SecretId=secret_name)
    except ClientError as error:
        if _gone(error):
            return None
        raise
    if not owned(described.get("Tags", [])):
        raise NotOwned(f"secret {secret_name!r}")
    try:
        secrets.delete_secret(SecretId=described["ARN"], ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if not _gone(error):
            raise
    return str(described["ARN"])


def remove_cors_rule(s3: Any, bucket: str, rule_id: str) -> bool:
    """Take out only our rule; a bucket left with no rules gets no CORS configuration at all."""
    try:
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as error:
        if _gone(error):
            return False
        raise
    remaining = without_rule(rules, rule_id)
    if len(remaining) == len(rules):
        return False
    if remaining:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": remaining})
    else:
        s3.delete_bucket_cors(Bucket=bucket)
    return True


def detach_policy(iam: Any, user_name: str, policy_arn: str) -> bool:
    try:
        iam.detach_user_policy(UserName=user_name, PolicyArn=policy_arn)
    except ClientError as error:
        if _gone(error):
            return False
        raise
    return True


def delete_policy(iam: Any, policy_arn: str, owned: Owned) -> bool:
    """Detach it from every user, drop old versions, delete it. False when it did not exist."""
    try:
        tags = iam.list_policy_tags(PolicyArn=policy_arn)["Tags"]
    except ClientError as error:
        if _gone(error):
            return False
        raise
    if not owned(tags):
        raise NotOwned(f"policy {policy_arn}")
    try:
        for user in iam.list_entities_for_policy(PolicyArn=policy_arn, EntityFilter="User")["PolicyUsers"]:
            detach_policy(iam, user["UserName"], policy_arn)
        for version in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=policy_arn)
    except ClientError as error:
        if not _gone(error):
            raise
    return True


def delete_user(iam: Any, user_name: str) -> bool:
    """Delete a user whose ownership the caller has proved, with whatever still blocks DeleteUser."""
    try:
        delete_access_keys(iam, user_name)
        for policy in iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]:
            detach_policy(iam, user_name, policy["PolicyArn"])
        iam.delete_user(UserName=user_name)
    except ClientError as error:
        if _gone(error):
            return False
        raise
    return True


class Ledger:
    """What a cleanup did and could not do, in the words a person reads in an execution's cause."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.removed: list[str] = []
        self.left_behind: list[str] = []
        self.untouched: list[str] = []
        self.errors: list[str] = []

    def attempt(self, what: str, operation: Callable[[], object]) -> object:
        try:
            return operation()
        except NotOwned as not_owned:
            self.untouched.append(f"{not_owned} (not created by {self.owner})")
        except ClientError as error:
            self.left_behind.append(what)
            self.errors.append(f"{what}: {error.operation_name} failed with {error_code(error)}")
        return None

    def raise_if_incomplete(self) -> None:
        if self.left_behind:
            raise RollbackIncomplete(self.left_behind, self.errors, self.removed)


@dataclass(frozen=True)
class Footprint:
    """Where a connection's resources are, by their deterministic names."""

    user_name: str
    secret_name: str
    policy_arn: str
    bucket: str
    # None when the CORS rule is not this cleanup's to remove; else removes it, True when it did.
    remove_cors_rule: Callable[[], bool] | None


def remove_shared_cors_rule(s3: Any, dynamodb: Any, bucket: str, connection_id: str, holder: str) -> bool:
    """Remove the Labellerr rule unless another live connection on the bucket relies on it.

    Decided and done under the bucket's lease, so an onboarding cannot add or rely on it in between.
    """
    with bucket_lease(dynamodb, bucket, holder):
        if registry.cors_rule_needed_by_others(dynamodb, bucket, connection_id):
            return False
        return remove_cors_rule(s3, bucket, CORS_RULE_ID)


def policy_arn(partition: str, execution_arn: str, iam_path: str, policy_name: str) -> str:
    """A policy's ARN from its name; the account is the one the (same-account) execution runs in."""
    account = execution_arn.split(":")[4]
    return f"arn:{partition}:iam::{account}:policy{iam_path}{policy_name}"


def remove_footprint(
    iam: Any, s3: Any, secrets: Any, footprint: Footprint, owned: Owned, ledger: Ledger
) -> None:
    """Newest first: access keys, secret, CORS rule, policy (detached), user. Only what `owned` accepts."""
    user_label = f"IAM user {footprint.user_name}"
    user_owned = ledger.attempt(user_label, lambda: user_is_owned(iam, footprint.user_name, owned))
    if user_owned is False:
        ledger.untouched.append(f"{user_label} (not created by {ledger.owner})")

    if user_owned:
        keys = ledger.attempt(
            f"access keys of {footprint.user_name}", lambda: delete_access_keys(iam, footprint.user_name)
        )
        ledger.removed += [f"access key {key_id}" for key_id in (keys if isinstance(keys, list) else [])]

    secret_label = f"secret {footprint.secret_name}"
    if ledger.attempt(secret_label, lambda: delete_secret(secrets, footprint.secret_name, owned)):
        ledger.removed.append(secret_label)

    if footprint.remove_cors_rule is not None:
        cors_label = f"CORS rule {CORS_RULE_ID} on bucket {footprint.bucket}"
        if ledger.attempt(cors_label, footprint.remove_cors_rule):
            ledger.removed.append(cors_label)

    policy_label = f"policy {footprint.policy_arn}"
    if ledger.attempt(policy_label, lambda: delete_policy(iam, footprint.policy_arn, owned)):
        ledger.removed.append(f"{policy_label} (detached and deleted)")

    if user_owned and ledger.attempt(user_label, lambda: delete_user(iam, footprint.user_name)):
        ledger.removed.append(user_label)
