"""IAM's DeleteUser refuses a user that still has anything attached; moto 5.2.5 checks only policies.

AWS's rule (IAM API reference, DeleteUser): "you must delete the items attached to the user manually, or the
deletion fails": its password (login profile), access keys, signing certificates, SSH public keys, Git
(service-specific) credentials, MFA devices, inline policies, attached managed policies and group memberships;
otherwise 409 DeleteConflict. moto deletes a user with keys, a password, MFA devices, certificates, SSH keys
or group memberships (the group keeps a member that no longer exists). The local stack refuses as IAM does.

IAM operations moto does not implement (ListServiceSpecificCredentials, DeleteServiceSpecificCredential,
among others) make moto's server answer 500 with a traceback, which botocore retries and cannot parse. Once
the caller's role has allowed the call, the local stack answers them as an AWS service answers an operation it
does not offer: 501 NotImplemented, so a caller can tell "not here" from a failure.
"""

from __future__ import annotations

import uuid
from typing import Any

from provisioner_local.moto_targets import IAM_CALL_ACTION, IAM_DELETE_USER, PatchSet


def attachments(backend: Any, user: Any) -> list[str]:
    """What keeps IAM from deleting `user`, in IAM's words; [] when nothing does."""
    found = []
    if user.password:
        found.append("login profile")
    if user.access_keys:
        found.append("access keys")
    if user.signing_certificates:
        found.append("signing certificates")
    if user.ssh_public_keys:
        found.append("SSH public keys")
    if user.mfa_devices:
        found.append("MFA devices")
    if user.policies:
        found.append("inline policies")
    if user.managed_policies:
        found.append("attached policies")
    if any(user in group.users for group in backend.groups.values()):
        found.append("group memberships")
    return found


def not_implemented_answer(action: str) -> tuple[int, dict[str, str], str]:
    request_id = str(uuid.uuid4())
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<Error><Type>Sender</Type><Code>NotImplemented</Code><Message>the local stack does not implement "
        f"{action}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return 501, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body


def install(patches: PatchSet) -> None:
    from moto.iam.exceptions import DeleteConflictException

    original_delete_user = IAM_DELETE_USER.original()

    def delete_user(backend: Any, user_name: str) -> None:
        user = backend.get_user(user_name)
        if blocking := attachments(backend, user):
            raise DeleteConflictException(f"Cannot delete entity, must remove {', '.join(blocking)} first.")
        original_delete_user(backend, user_name)

    patches.set(IAM_DELETE_USER, delete_user)

    # Installed after iam_throttle's: this wraps it, so a throttled call is still throttled first.
    original_call_action = IAM_CALL_ACTION.original()

    def call_action(response: Any) -> Any:
        try:
            return original_call_action(response)
        except NotImplementedError:
            return not_implemented_answer(str(response._get_action()))

    patches.set(IAM_CALL_ACTION, call_action)
