"""The health check's look at what the connection owns in IAM and Secrets Manager, read with the
provisioner's own role, never written: the user on our path with our tags, our policy attached with our
document as its default version, nothing else attached to the user, and the key in the secret's AWSCURRENT
being the user's Active key.

Ownership comes from the record (names, the user's ARN, the policy's ARN) and the world, never from an
earlier check. Nine calls on a healthy connection: GetUser, ListAccessKeys, ListAttachedUserPolicies,
ListUserPolicies, ListGroupsForUser, GetPolicy, GetPolicyVersion, and the secret's GetSecretValue.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from provisioner_core import aws
from provisioner_core.config import TAG_CONNECTION_ID, TAG_EXECUTION_ARN, Settings
from provisioner_core.fence import fence_tags
from provisioner_core.health import finding
from provisioner_core.policy import connection_policy_document

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from provisioner_core.contracts.health import HealthFinding

GONE = frozenset({"NoSuchEntity", "ResourceNotFoundException"})


@dataclass
class KeyInHand:
    """The key the secret's AWSCURRENT holds; the secret access key stays inside this invocation."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


def _code(error: ClientError) -> str:
    return aws.error_code(error)


def secret_key(
    secrets: SecretsManagerClient, record: Mapping[str, Any]
) -> tuple[KeyInHand | None, HealthFinding]:
    """The key in the secret's AWSCURRENT, or None with the reason as a failed finding."""
    arn = str(record.get("secret_arn") or record.get("secret_name"))
    try:
        stored = secrets.get_secret_value(SecretId=arn)
    except ClientError as error:
        code, message = _code(error), error.response.get("Error", {}).get("Message", "")
        if code == "ResourceNotFoundException":
            return None, finding("secret", "failed", f"the secret {arn} is gone: Labellerr's key has no home")
        # AWS says "marked for deletion", moto "marked deleted".
        if code == "InvalidRequestException" and "marked" in message.lower() and "delet" in message.lower():
            return None, finding(
                "secret",
                "failed",
                f"the secret {arn} is scheduled for deletion; `aws secretsmanager restore-secret --secret-id "
                f"{arn}` keeps it, or offboard the connection",
            )
        raise
    secret = json.loads(stored["SecretString"])
    key = KeyInHand(str(secret["access_key_id"]), str(secret["secret_access_key"]))
    return key, finding("secret", "passed", f"the secret holds key {key.access_key_id} in AWSCURRENT")


def known_keys(record: Mapping[str, Any]) -> set[str]:
    """The keys this provisioner issued to the connection: the recorded one, and a running rotation's two."""
    rotation: Mapping[str, Any] = record.get("rotation") or {}
    return {
        str(k)
        for k in (
            record.get("access_key_id"),
            rotation.get("new_access_key_id"),
            rotation.get("old_access_key_id"),
        )
        if k
    }


def user_findings(
    iam: IAMClient, record: Mapping[str, Any], current_key: str | None, boundary_arn: str = ""
) -> list[HealthFinding]:
    """The user and what hangs on it. An empty list past the first finding when the user is gone."""
    user_name = str(record["iam_user_name"])
    try:
        user = iam.get_user(UserName=user_name)["User"]
    except ClientError as error:
        if _code(error) in GONE:
            return [
                finding(
                    "user",
                    "failed",
                    f"IAM user {user_name} is gone, and with it the key Labellerr uses; offboard the "
                    "connection (DELETE removes the rest) and onboard it again",
                )
            ]
        raise
    found: list[HealthFinding] = []
    recorded_arn = record.get("iam_user_arn")
    if user.get("Path") != record.get("iam_path") or (recorded_arn and user.get("Arn") != recorded_arn):
        found.append(
            finding(
                "user",
                "warning",
                f"IAM user {user_name} is {user.get('Arn')}, not the recorded {recorded_arn}",
            )
        )
    else:
        found.append(finding("user", "passed", f"IAM user {user_name} is on {user.get('Path')} as recorded"))
    if boundary_arn:
        found.append(boundary_finding(user_name, user.get("PermissionsBoundary") or {}, boundary_arn))
    found += tag_findings(record, user.get("Tags") or [])
    found += key_findings(iam, record, user_name, current_key)
    found += attachment_findings(iam, record, user_name)
    return found


def boundary_finding(user_name: str, boundary: Mapping[str, Any], wanted: str) -> HealthFinding:
    """The stack's boundary caps what any policy on the user can grant. The guardrail lets no provisioner role
    put or delete a boundary, so a person must put it back."""
    got = boundary.get("PermissionsBoundaryArn")
    has = f"boundary {got}" if got else "no permissions boundary"
    if got == wanted:
        return finding("boundary", "passed", f"IAM user {user_name} has the stack's permissions boundary")
    return finding(
        "boundary",
        "warning",
        f"IAM user {user_name} has {has}, not the stack's "
        f"{wanted}: nothing caps what a policy on the user may grant. `aws iam put-user-permissions-boundary "
        f"--user-name {user_name} --permissions-boundary {wanted}`",
    )


def tag_findings(record: Mapping[str, Any], tags: list[Any]) -> list[HealthFinding]:
    """The tags CreateUser set: ownership (connection id, execution) and the boundary's fence. The guardrail
    lets no provisioner role tag a user after creating it, so a person must put them back."""
    have = {t.get("Key"): t.get("Value") for t in tags}
    wanted = [
        {"Key": TAG_CONNECTION_ID, "Value": record["connection_id"]},
        {"Key": TAG_EXECUTION_ARN, "Value": record.get("execution_arn", "")},
        *fence_tags(str(record["bucket"]), str(record.get("prefix", ""))),
    ]
    missing = [t for t in wanted if t["Value"] and have.get(t["Key"]) != t["Value"]]
    if not missing:
        return [finding("tags", "passed", "the ownership and fence tags are as CreateUser set them")]
    command = " ".join(
        f"Key={t['Key']},Value={urllib.parse.quote(str(t['Value']), safe=':/=+-@._')}" for t in missing
    )
    return [
        finding(
            "tags",
            "warning",
            f"tags {', '.join(t['Key'] for t in missing)} of IAM user {record['iam_user_name']} were changed "
            "or removed; without the fence tags the boundary no longer fences the key to its bucket and "
            "prefix. The provisioner's roles may not tag a user after creating it: "
            f"`aws iam tag-user --user-name {record['iam_user_name']} --tags {command}`",
        )
    ]


def key_findings(
    iam: IAMClient, record: Mapping[str, Any], user_name: str, current_key: str | None
) -> list[HealthFinding]:
    keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    status = {k["AccessKeyId"]: k["Status"] for k in keys}
    found: list[HealthFinding] = []
    if current_key is not None:
        if current_key not in status:
            found.append(
                finding(
                    "key",
                    "failed",
                    f"access key {current_key}, the secret's, was deleted from IAM user {user_name}; "
                    "offboard and onboard the connection again for a new key",
                )
            )
        elif status[current_key] != "Active":
            # Never re-enabled by a repair: a person deactivating a key is a decision (an incident, say).
            found.append(
                finding(
                    "key",
                    "failed",
                    f"access key {current_key} is {status[current_key]}: a person deactivated it. If that "
                    f"was not meant, `aws iam update-access-key --user-name {user_name} --access-key-id "
                    f"{current_key} --status Active`; otherwise rotate or offboard",
                )
            )
        elif current_key not in known_keys(record):
            found.append(
                finding(
                    "key", "failed", f"the secret holds {current_key}, which this connection never issued"
                )
            )
        else:
            found.append(finding("key", "passed", f"access key {current_key} is Active and is the secret's"))
    foreign = sorted(set(status) - known_keys(record) - {current_key or ""})
    if foreign:
        found.append(
            finding(
                "keys",
                "warning",
                f"IAM user {user_name} has access key(s) {', '.join(foreign)} that the provisioner did not "
                "issue (offboarding deletes them with the user)",
            )
        )
    return found


def attachment_findings(iam: IAMClient, record: Mapping[str, Any], user_name: str) -> list[HealthFinding]:
    """Our policy attached, and nothing else on the user: another policy, an inline one or a group widens
    what the key may do (up to the boundary)."""
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]
    ]
    ours = str(record.get("policy_arn", ""))
    found: list[HealthFinding] = []
    if ours in attached:
        found.append(finding("policy_attached", "passed", f"policy {ours} is attached"))
    else:
        found.append(
            finding(
                "policy_attached", "failed", f"policy {ours} is not attached to IAM user {user_name}", True
            )
        )
    others = [arn for arn in attached if arn != ours]
    inline = iam.list_user_policies(UserName=user_name)["PolicyNames"]
    groups = [g["GroupName"] for g in iam.list_groups_for_user(UserName=user_name)["Groups"]]
    widening = [
        *(f"policy {arn}" for arn in others),
        *(f"inline policy {name}" for name in inline),
        *(f"group {name}" for name in groups),
    ]
    if widening:
        found.append(
            finding(
                "widening",
                "warning",
                f"IAM user {user_name} also has {', '.join(widening)}: the key may do more than the "
                "connection needs (up to the boundary). A repair never removes what it did not create; "
                "offboarding does (inline policies deleted, policies detached and kept; a group membership "
                "is named for a person)",
            )
        )
    return found


def policy_findings(iam: IAMClient, record: Mapping[str, Any], settings: Settings) -> list[HealthFinding]:
    """Our policy exists and its default version is the document we build (compared by content)."""
    arn = str(record.get("policy_arn", ""))
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    except ClientError as error:
        if _code(error) in GONE:
            return [
                finding(
                    "policy", "failed", f"policy {arn} is gone; offboard and onboard the connection again"
                )
            ]
        raise
    document = version["Document"]
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    account_id = arn.split(":")[4]
    wanted = connection_policy_document(record, partition=settings.partition, account_id=account_id)
    if document == wanted:
        return [
            finding("policy", "passed", f"the default version {policy['DefaultVersionId']} is our document")
        ]
    return [
        finding(
            "policy",
            "warning",
            f"the default version {policy['DefaultVersionId']} of policy {arn} is not the document the "
            "provisioner wrote: the key's permissions were changed by hand",
            True,
        )
    ]
