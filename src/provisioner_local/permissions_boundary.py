"""A user's permissions boundary, as AWS applies it to S3 requests signed with an issued key.

AWS's rule (IAM User Guide, "Permissions boundaries for IAM entities"): an identity-based policy grants only
what the boundary allows too; an explicit Deny in the boundary denies. The boundary is evaluated with the
request's context, including the user's own tags as `aws:PrincipalTag/<key>` and the bucket owner's account
as `s3:ResourceAccount`, and with its policy variables resolved (policy_variables): the stack's boundary caps
each user to its own bucket and prefix through them.

moto drops CreateUser's PermissionsBoundary and never evaluates boundaries; `install` keeps the boundary on
the user (GetUser then answers it, as IAM does), and `check` is applied after moto's identity-policy check.
Users without a boundary are not checked here (only their identity policies apply, as in AWS). The stack's own
managed policies are not in moto's IAM: `remember` takes their documents from the template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provisioner_local.bucket_policy_enforcement import S3Request
from provisioner_local.moto_targets import IAM_CREATE_USER_RESPONSE, PatchSet
from provisioner_local.policy_evaluation import AuthorizationRequest, effects

BOUNDARY_ATTRIBUTE = "permissions_boundary_arn"
# The template's managed policies by ARN, for every running stack (they share one moto).
_TEMPLATE_POLICIES: dict[str, dict[str, Any]] = {}


def remember(managed_policies: Mapping[str, Mapping[str, Any]]) -> None:
    _TEMPLATE_POLICIES.update({arn: dict(document) for arn, document in managed_policies.items()})


def install(patches: PatchSet) -> None:
    """Keep CreateUser's PermissionsBoundary on moto's user, where `check` finds it."""
    original = IAM_CREATE_USER_RESPONSE.original()

    def create_user(response: Any) -> Any:
        result = original(response)
        boundary = response._get_param("PermissionsBoundary")
        if boundary:
            user = response.backend.get_user(response._get_param("UserName"))
            setattr(user, BOUNDARY_ATTRIBUTE, boundary)
            # What GetUser answers as the user's PermissionsBoundary (moto serializes the attribute).
            user.permissions_boundary = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": boundary,
            }
        return result

    patches.set(IAM_CREATE_USER_RESPONSE, create_user)


def context(request: S3Request, tags: list[dict[str, str]]) -> dict[str, Any]:
    """The request's context with the principal's tags and the bucket owner's account (one account here)."""
    values: dict[str, Any] = {**request.context(), "s3:ResourceAccount": request.account_id}
    for tag in tags:
        values[f"aws:PrincipalTag/{tag['Key']}"] = tag["Value"]
    return values


def refusal(document: Mapping[str, Any], request: S3Request, tags: list[dict[str, str]]) -> str | None:
    """AWS's message when the boundary does not let the request through, else None."""
    found = effects(
        [document], AuthorizationRequest(request.action, request.resource, context(request, tags))
    )
    where = (
        f"User: {request.principal_arn} is not authorized to perform: {request.action} "
        f'on resource: "{request.resource}"'
    )
    if "Deny" in found:
        return f"{where} with an explicit deny in a permissions boundary"
    if "Allow" not in found:
        return f"{where} because no permissions boundary allows the {request.action} action"
    return None


def check(iam_backend: Any, user: Any, request: S3Request) -> str | None:
    """The refusal for this user's request, or None (also when the user has no boundary)."""
    boundary_arn = getattr(user, BOUNDARY_ATTRIBUTE, None)
    if not boundary_arn:
        return None
    document = _TEMPLATE_POLICIES.get(boundary_arn) or _moto_document(iam_backend, boundary_arn)
    if document is None:
        # A boundary that does not exist allows nothing.
        return refusal({}, request, [])
    return refusal(document, request, iam_backend.list_user_tags(user.name))


def _moto_document(iam_backend: Any, arn: str) -> dict[str, Any] | None:
    try:
        policy = iam_backend.get_policy(arn)
    except Exception:
        return None
    version = next((v for v in policy.versions if v.is_default), None)
    if version is None:
        return None
    document = version.document
    return dict(json.loads(document) if isinstance(document, str) else document)
