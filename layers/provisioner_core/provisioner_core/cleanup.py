"""Removing what a connection created, one idempotent operation at a time (NotFound means done).

Rollback uses these with "tagged by this execution" as proof of ownership, offboarding with "tagged with this
connection" or, for the user, what the record says of it (its name on the recorded path, its recorded ARN), so
a person removing its tags does not make it foreign; anything else is never touched.
Order matters for IAM: keys and attachments go before the user, attachments before the policy; offboarding
also removes what a person attached to the user that would block DeleteUser (release_user).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code
from provisioner_core.config import TAG_CONNECTION_ID
from provisioner_core.cors import without_rule, write_rules
from provisioner_core.errors import BucketBusy
from provisioner_core.labellerr_errors import LabellerrError
from provisioner_core.lease import bucket_lease
from provisioner_core.user_release import listed, release_user, removed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.step_results import CleanupReport

Owned = Callable[[Sequence[Mapping[str, Any]]], bool]
GONE = frozenset({"NoSuchEntity", "ResourceNotFoundException", "NoSuchCORSConfiguration", "NoSuchBucket"})


class NotOwned(Exception):
    """The resource exists but carries no proof that this run made it: leave it alone."""


def _gone(error: ClientError) -> bool:
    return error_code(error) in GONE


@dataclass(frozen=True)
class RecordedUser:
    """What the registry recorded of a connection's user once it was ACTIVE: the path it was created on and
    its ARN (which holds the path and the name)."""

    path: str
    arn: str


def user_is_owned(
    iam: IAMClient, user_name: str, owned: Owned, recorded: RecordedUser | None = None
) -> bool | None:
    """True/False for an existing user, None when there is no such user.

    Proven by its tags, or, with `recorded`, by being where the record says: on the recorded path with the
    recorded ARN. A user tagged for another connection is never ours, whatever its name.
    """
    try:
        tags = iam.list_user_tags(UserName=user_name)["Tags"]
    except ClientError as error:
        if _gone(error):
            return None
        raise
    if owned(tags):
        return True
    if recorded is None or any(tag.get("Key") == TAG_CONNECTION_ID for tag in tags):
        return False
    try:
        user = iam.get_user(UserName=user_name)["User"]
    except ClientError as error:
        if _gone(error):
            return None
        raise
    return bool(user.get("Path") == recorded.path and user.get("Arn") == recorded.arn)


def delete_access_keys(iam: IAMClient, user_name: str) -> list[str]:
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


def delete_secret(secrets: SecretsManagerClient, secret_name: str, owned: Owned) -> str | None:
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


def remove_cors_rule(s3: S3Client, dynamodb: DynamoDBClient, bucket: str, rule_id: str, holder: str) -> bool:
    """Take out only the rule with this ID, under the bucket's lease; a bucket left with no rules gets no
    CORS configuration at all. False when the rule was not there (already removed, or never added)."""
    with bucket_lease(dynamodb, bucket, holder):
        try:
            rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        except ClientError as error:
            if _gone(error):
                return False
            raise
        remaining = without_rule(rules, rule_id)
        if len(remaining) == len(rules):
            return False
        write_rules(s3, bucket, remaining)
    return True


def delete_probe(s3: S3Client, bucket: str, key: str) -> bool:
    """The verification probe, by its fixed name; the provisioner may delete only objects of that name.

    In a versioned bucket a DeleteObject without VersionId keeps the probe as a noncurrent version and adds a
    delete marker (also when there was no probe), so every version and marker of exactly this key is deleted
    by id: False when there were none. A role that may not list versions (s3:ListBucketVersions) gets the
    plain delete, which answers success for a missing key, so that cannot tell whether there was one.
    """
    try:
        versions = _probe_versions(s3, bucket, key)
        if versions is None:
            s3.delete_object(Bucket=bucket, Key=key)
            return True
        for version_id in versions:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
    except ClientError as error:
        if _gone(error):
            return False
        raise
    return bool(versions)


def _probe_versions(s3: S3Client, bucket: str, key: str) -> list[str] | None:
    """Version ids of the key's versions and delete markers; None when listing them is not allowed."""
    found: list[str] = []
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
            found += [entry["VersionId"] for entry in entries if entry["Key"] == key]
    except ClientError as error:
        if error_code(error) == "AccessDenied":
            return None
        raise
    return found


def detach_policy(iam: IAMClient, user_name: str, policy_arn: str) -> bool:
    try:
        iam.detach_user_policy(UserName=user_name, PolicyArn=policy_arn)
    except ClientError as error:
        if _gone(error):
            return False
        raise
    return True


def delete_policy(iam: IAMClient, policy_arn: str, owned: Owned) -> bool:
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


def delete_user(iam: IAMClient, user_name: str) -> bool:
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


def leave_groups(iam: Any, user_name: str, ledger: Ledger) -> None:
    """Take the user out of each group it is in, the groups kept; one attempt per group, so a membership
    that cannot be left (RemoveUserFromGroup is authorized on the group) is named in `left_behind`."""
    groups = ledger.attempt(
        f"group memberships of IAM user {user_name}",
        partial(listed, iam.list_groups_for_user, "Groups", UserName=user_name),
    )
    for group in groups if isinstance(groups, list) else []:
        label = f"membership of IAM user {user_name} in group {group['GroupName']}"
        left = partial(removed, iam.remove_user_from_group, GroupName=group["GroupName"], UserName=user_name)
        if ledger.attempt(label, left):
            ledger.removed_once(f"{label} (the group is kept)")


_LOOK_UPS = ("List", "Get", "Describe", "Head")


class Ledger:
    """What a cleanup did and could not do, in the words a person reads in an execution's cause.

    `removed` carries what earlier attempts of the same cleanup removed, so the final account is complete.
    """

    def __init__(self, owner: str, removed_before: list[str] | None = None) -> None:
        self.owner = owner
        self.removed: list[str] = list(removed_before or [])
        self.left_behind: list[str] = []
        self.untouched: list[str] = []
        self.errors: list[str] = []

    def attempt(self, what: str, operation: Callable[[], object], *, unseen: bool = False) -> object:
        """`unseen`: the operation cannot tell whether the thing existed (S3 deletes missing keys quietly)."""
        try:
            return operation()
        except NotOwned as not_owned:
            self.untouched.append(f"{not_owned} (not created by {self.owner})")
        except ClientError as error:
            # A failed look-up cannot tell whether the thing exists: say so rather than claim it does.
            checking = unseen or error.operation_name.startswith(_LOOK_UPS)
            self.left_behind.append(f"{what} (could not be checked; it may remain)" if checking else what)
            self.errors.append(f"{what}: {error.operation_name} failed with {error_code(error)}")
        except BucketBusy as busy:
            self.left_behind.append(what)
            self.errors.append(f"{what}: {busy}")
        except LabellerrError as error:
            # Its message never carries a secret (the client scrubs Labellerr's echoes).
            self.left_behind.append(f"{what} (could not be checked; it may remain)" if unseen else what)
            self.errors.append(f"{what}: {error}")
        return None

    def removed_once(self, what: str) -> None:
        if what not in self.removed:
            self.removed.append(what)

    @property
    def complete(self) -> bool:
        return not self.left_behind


@dataclass(frozen=True)
class Footprint:
    """Where a connection's resources are, by their deterministic names: found from the world itself."""

    user_name: str
    secret_name: str
    policy_arn: str
    bucket: str
    # None when the connection never asked for CORS: then it has no rule.
    cors_rule_id: str | None
    # None for connections that never write (import): they have no probe object.
    probe_key: str | None
    lease_holder: str
    # S3 deletes a missing key without a word, so only a probe that may have been written is reported.
    probe_may_exist: bool = False
    # Offboarding: the user as the registry recorded it (also ours when its tags were removed), and whether
    # to remove what a person attached to it that blocks its deletion (release_user).
    recorded_user: RecordedUser | None = None
    release_attachments: bool = False


def policy_arn(partition: str, execution_arn: str, iam_path: str, policy_name: str) -> str:
    """A policy's ARN from its name; the account is the one the (same-account) execution runs in."""
    account = execution_arn.split(":")[4]
    return f"arn:{partition}:iam::{account}:policy{iam_path}{policy_name}"


def remove_footprint(
    iam: IAMClient,
    s3: S3Client,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
    footprint: Footprint,
    owned: Owned,
    ledger: Ledger,
) -> None:
    """Newest first: probe object, access keys, secret, CORS rule, policy (detached), user.

    IAM resources and the secret only when `owned` accepts their tags; the probe and the CORS rule carry
    the connection in their name.
    """
    if footprint.probe_key is not None:
        probe_label = f"probe object s3://{footprint.bucket}/{footprint.probe_key}"
        deleted = ledger.attempt(
            probe_label, lambda: delete_probe(s3, footprint.bucket, footprint.probe_key or ""), unseen=True
        )
        if deleted and footprint.probe_may_exist:
            ledger.removed_once(probe_label)

    user_label = f"IAM user {footprint.user_name}"
    user_owned = ledger.attempt(
        user_label, lambda: user_is_owned(iam, footprint.user_name, owned, footprint.recorded_user)
    )
    if user_owned is False:
        ledger.untouched.append(f"{user_label} (not created by {ledger.owner})")

    if user_owned:
        keys = ledger.attempt(
            f"access keys of {footprint.user_name}", lambda: delete_access_keys(iam, footprint.user_name)
        )
        for key_id in keys if isinstance(keys, list) else []:
            ledger.removed_once(f"access key {key_id}")

    secret_label = f"secret {footprint.secret_name}"
    if ledger.attempt(secret_label, lambda: delete_secret(secrets, footprint.secret_name, owned)):
        ledger.removed_once(secret_label)

    rule_id = footprint.cors_rule_id
    if rule_id is not None:
        cors_label = f"CORS rule {rule_id} on bucket {footprint.bucket}"
        removed_rule = ledger.attempt(
            cors_label,
            lambda: remove_cors_rule(s3, dynamodb, footprint.bucket, rule_id, footprint.lease_holder),
        )
        if removed_rule:
            ledger.removed_once(cors_label)

    policy_label = f"policy {footprint.policy_arn}"
    if ledger.attempt(policy_label, lambda: delete_policy(iam, footprint.policy_arn, owned)):
        ledger.removed_once(f"{policy_label} (detached and deleted)")

    if user_owned and footprint.release_attachments:
        for label, release in release_user(iam, footprint.user_name, footprint.policy_arn):
            ledger.attempt(label, partial(release, ledger.removed_once))
        leave_groups(iam, footprint.user_name, ledger)

    if user_owned and ledger.attempt(user_label, lambda: delete_user(iam, footprint.user_name)):
        ledger.removed_once(user_label)


# A cleanup that could not finish is tried again by the state machine (a Wait loop), this often in all.
MAX_ATTEMPTS = 6
_MAX_RETRY_SECONDS = 30


def report(ledger: Ledger, attempts: int) -> CleanupReport:
    """What one attempt leaves in the state: everything removed so far, what is left, whether to retry."""
    retry = not ledger.complete and attempts < MAX_ATTEMPTS
    return {
        "complete": ledger.complete,
        "attempts": attempts,
        "retry": retry,
        "retry_in_seconds": min(2**attempts, _MAX_RETRY_SECONDS),
        "removed": ledger.removed,
        "left_behind": ledger.left_behind,
        "errors": ledger.errors,
        "not_touched": ledger.untouched,
    }
