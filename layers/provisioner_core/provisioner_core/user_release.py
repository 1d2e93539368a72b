"""Freeing an IAM user of what a person attached to it by hand, so that DeleteUser does not answer
DeleteConflict: inline policies, other managed policies, the console password, MFA devices, signing
certificates, SSH keys and service-specific credentials (cleanup.leave_groups does group memberships)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from provisioner_core.aws import error_code

# What IAM answers when the thing is already gone: then there is nothing to remove.
GONE = frozenset({"NoSuchEntity"})


def listed(operation: Callable[..., dict[str, Any]], key: str, **params: Any) -> list[Any]:
    """One page of a look-up of the user's attachments (IAM's default page of 100 is far above what a person
    adds by hand); [] when the user is gone."""
    try:
        return list(operation(**params)[key])
    except ClientError as error:
        if error_code(error) in GONE:
            return []
        raise


def removed(operation: Callable[..., object], **params: Any) -> bool:
    """A removal; False when it was already gone."""
    try:
        operation(**params)
    except ClientError as error:
        if error_code(error) in GONE:
            return False
        raise
    return True


Note = Callable[[str], None]
# IAM operations the local stack (moto 5.2.5) does not implement: it answers NotImplemented, and only that is
# taken as "there are none" (AWS itself implements them all).
_NOT_IMPLEMENTED = "NotImplemented"


def _inline_policies(iam: Any, user: str, note: Note) -> None:
    for name in listed(iam.list_user_policies, "PolicyNames", UserName=user):
        if removed(iam.delete_user_policy, UserName=user, PolicyName=name):
            note(f"inline policy {name} of IAM user {user} (deleted)")


def _attached_policies(iam: Any, user: str, own_policy_arn: str, note: Note) -> None:
    for policy in listed(iam.list_attached_user_policies, "AttachedPolicies", UserName=user):
        arn = policy["PolicyArn"]
        # The connection's own policy is deleted with its attachments (delete_policy), or by delete_user.
        if arn != own_policy_arn and removed(iam.detach_user_policy, UserName=user, PolicyArn=arn):
            note(f"policy {arn} detached from IAM user {user} (the policy is kept)")


def _login_profile(iam: Any, user: str, note: Note) -> None:
    # No look-up first: DeleteLoginProfile answers NoSuchEntity when there is none.
    if removed(iam.delete_login_profile, UserName=user):
        note(f"console password (login profile) of IAM user {user}")


def _mfa_devices(iam: Any, user: str, note: Note) -> None:
    for device in listed(iam.list_mfa_devices, "MFADevices", UserName=user):
        serial = device["SerialNumber"]
        if removed(iam.deactivate_mfa_device, UserName=user, SerialNumber=serial):
            note(f"MFA device {serial} of IAM user {user} (deactivated; the device itself is kept)")


def _signing_certificates(iam: Any, user: str, note: Note) -> None:
    for certificate in listed(iam.list_signing_certificates, "Certificates", UserName=user):
        certificate_id = certificate["CertificateId"]
        if removed(iam.delete_signing_certificate, UserName=user, CertificateId=certificate_id):
            note(f"signing certificate {certificate_id} of IAM user {user}")


def _ssh_public_keys(iam: Any, user: str, note: Note) -> None:
    for key in listed(iam.list_ssh_public_keys, "SSHPublicKeys", UserName=user):
        key_id = key["SSHPublicKeyId"]
        if removed(iam.delete_ssh_public_key, UserName=user, SSHPublicKeyId=key_id):
            note(f"SSH public key {key_id} of IAM user {user}")


def _service_specific_credentials(iam: Any, user: str, note: Note) -> None:
    try:
        credentials = listed(
            iam.list_service_specific_credentials, "ServiceSpecificCredentials", UserName=user
        )
    except ClientError as error:
        if error_code(error) == _NOT_IMPLEMENTED:
            return
        raise
    except NotImplementedError:
        # moto in-process (the unit tests' mock) raises it instead of answering.
        return
    for credential in credentials:
        credential_id = credential["ServiceSpecificCredentialId"]
        if removed(
            iam.delete_service_specific_credential, UserName=user, ServiceSpecificCredentialId=credential_id
        ):
            note(f"service-specific credential {credential_id} of IAM user {user}")


def release_user(iam: Any, user_name: str, own_policy_arn: str) -> list[tuple[str, Callable[[Note], None]]]:
    """What a person may have added to the user that makes DeleteUser answer DeleteConflict, as (label,
    removal) pairs, each removal naming what it removed. Inline policies are deleted; managed policies that
    are not the connection's are detached and kept; group memberships are left and the groups kept; the
    console password, signing certificates, SSH keys and service-specific credentials are deleted; MFA
    devices are deactivated (a virtual device itself is kept). Group memberships: leave_groups."""
    return [
        (f"inline policies of IAM user {user_name}", lambda note: _inline_policies(iam, user_name, note)),
        (
            f"policies attached to IAM user {user_name}",
            lambda note: _attached_policies(iam, user_name, own_policy_arn, note),
        ),
        (f"login profile of IAM user {user_name}", lambda note: _login_profile(iam, user_name, note)),
        (f"MFA devices of IAM user {user_name}", lambda note: _mfa_devices(iam, user_name, note)),
        (
            f"signing certificates of IAM user {user_name}",
            lambda note: _signing_certificates(iam, user_name, note),
        ),
        (f"SSH public keys of IAM user {user_name}", lambda note: _ssh_public_keys(iam, user_name, note)),
        (
            f"service-specific credentials of IAM user {user_name}",
            lambda note: _service_specific_credentials(iam, user_name, note),
        ),
    ]
