"""An Inactive access key signs nothing, as in AWS; moto authenticates inactive keys like active ones.

AWS (IAM user guide, "Manage access keys for IAM users"): an inactive key "cannot be used to make API
calls"; a request signed with one is refused as an unknown key, before any policy is read: S3 answers 403
InvalidAccessKeyId ("The AWS Access Key Id you provided does not exist in our records"), other services
InvalidClientTokenId. Making the key Active again makes it work again at once (it was never deleted).
"""

from __future__ import annotations

from typing import Any

INACTIVE = "Inactive"


def model_key(iam_request: Any) -> Any:
    """moto's IAM record of the request's key (the request itself only carries its id and secret)."""
    signer = iam_request._access_key
    return signer.backend.access_keys.get(getattr(signer, "_access_key_id", None))


def is_inactive(access_key: Any) -> bool:
    return getattr(access_key, "status", "Active") == INACTIVE


def refuse_if_inactive(iam_request: Any) -> None:
    """Raise what the request's service answers for an unknown key when the request's key is Inactive."""
    if is_inactive(model_key(iam_request)):
        iam_request._raise_invalid_access_key("InvalidId")
