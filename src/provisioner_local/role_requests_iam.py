"""What IAM authorizes for the IAM calls the functions make (role_requests describes the other services and
the rules every description follows: the resource is what exists, a user that does not exist is
`user/<name>`, a create with Tags is also the tagging action, under both readings of aws:ResourceTag)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from provisioner_local.policy_evaluation import AuthorizationRequest
from provisioner_local.role_calls import Call, UnknownOperation, request_tags, tags_context
from provisioner_local.template import ACCOUNT_ID, PARTITION

# Documented: creating with tags also needs the tagging action; whether the resource's own tags are in the
# context of that check is not documented, so both readings are tried (CreateAccess.both_readings).
TAGGING_ON_CREATE: Final = {"CreateUser": "iam:TagUser", "CreatePolicy": "iam:TagPolicy"}


def _iam() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT_ID][PARTITION]


def _user(name: str) -> tuple[str, dict[str, Any]]:
    """The user's ARN and context keys: what exists, or `user/<name>` with nothing when it does not."""
    backend = _iam()
    try:
        user = backend.get_user(name)
    except Exception:
        return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/{name}", {}
    from provisioner_local.permissions_boundary import BOUNDARY_ATTRIBUTE

    context = tags_context(backend.list_user_tags(name))
    boundary = getattr(user, BOUNDARY_ATTRIBUTE, None)
    if boundary:
        context["iam:PermissionsBoundary"] = boundary
    return str(user.arn), context


def _group(name: str) -> str:
    """The group's ARN (with its path), or `group/<name>` when it does not exist."""
    try:
        return str(_iam().get_group(name).arn)
    except Exception:
        return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:group/{name}"


def _policy_context(arn: str) -> dict[str, Any]:
    try:
        tags, _ = _iam().list_policy_tags(arn, None)
    except Exception:
        return {}
    return tags_context(tags)


# The user actions whose context has iam:PermissionsBoundary (the user's), per the IAM service page.
_BOUNDARY_KEYED: Final = frozenset(
    {
        "AttachUserPolicy",
        "DetachUserPolicy",
        "DeleteUserPolicy",
        "PutUserPolicy",
        "DeleteUserPermissionsBoundary",
    }
)


def iam_requests(call: Call) -> list[AuthorizationRequest]:
    op, params = call.operation, call.params
    action = f"iam:{op}"
    if op in ("GetAccountSummary", "ListUsers", "ListPolicies", "ListRoles", "ListGroups"):
        return [AuthorizationRequest(action, "*")]
    if op == "CreateUser":
        path = params.get("Path") or "/"
        arn = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user{path}{params['UserName']}"
        context = request_tags(params.get("Tags"))
        if params.get("PermissionsBoundary"):
            context["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
        return [AuthorizationRequest(action, arn, context), *_tagging_on_create(op, arn, params, context)]
    if op == "CreatePolicy":
        path = params.get("Path") or "/"
        arn = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:policy{path}{params['PolicyName']}"
        context = request_tags(params.get("Tags"))
        return [AuthorizationRequest(action, arn, context), *_tagging_on_create(op, arn, params, context)]
    if op == "GetAccessKeyLastUsed":
        try:
            owner = _iam().get_access_key_last_used(params["AccessKeyId"])["user_name"]
        except Exception:
            return [AuthorizationRequest(action, f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/")]
        arn, context = _user(owner)
        return [AuthorizationRequest(action, arn, context)]
    if op in ("AddUserToGroup", "RemoveUserFromGroup"):
        # Authorized on the group alone: IAM has no resource or condition key for the member.
        return [AuthorizationRequest(action, _group(str(params["GroupName"])))]
    if "UserName" in params:
        arn, context = _user(str(params["UserName"]))
        if op not in _BOUNDARY_KEYED:
            context.pop("iam:PermissionsBoundary", None)
        if op == "PutUserPermissionsBoundary":
            context["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
        if op in ("AttachUserPolicy", "DetachUserPolicy"):
            context["iam:PolicyARN"] = params["PolicyArn"]
        if op == "TagUser":
            context.update(request_tags(params.get("Tags")))
        if op == "UntagUser":
            context["aws:TagKeys"] = list(params.get("TagKeys") or [])
        return [AuthorizationRequest(action, arn, context)]
    if "PolicyArn" in params:
        arn = str(params["PolicyArn"])
        context = _policy_context(arn)
        if op == "TagPolicy":
            context.update(request_tags(params.get("Tags")))
        if op == "UntagPolicy":
            context["aws:TagKeys"] = list(params.get("TagKeys") or [])
        return [AuthorizationRequest(action, arn, context)]
    if op in ("ListAccessKeys", "CreateAccessKey"):
        raise UnknownOperation(f"iam:{op} without UserName acts on the caller itself, which no function does")
    raise UnknownOperation(f"iam:{op}")


def _tagging_on_create(
    op: str, arn: str, params: Mapping[str, Any], context: Mapping[str, Any]
) -> list[AuthorizationRequest]:
    """The tagging action a create with Tags also needs, under both readings of its aws:ResourceTag: absent
    (nothing exists yet), and filled from the request's tags (as if the tags were already on it)."""
    if not params.get("Tags"):
        return []
    tagging = TAGGING_ON_CREATE[op]
    with_resource_tags = {**context, **tags_context(params["Tags"])}
    return [
        AuthorizationRequest(tagging, arn, dict(context)),
        AuthorizationRequest(tagging, arn, with_resource_tags),
    ]
