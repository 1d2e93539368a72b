"""IAM's evaluation of identity-based policies for one request, as the IAM User Guide documents it
("Policy evaluation logic", "Determining whether a request is allowed or denied within an account"):

1. an explicit Deny in any applicable policy (identity policies or the permissions boundary) ends it: denied;
2. otherwise, an identity-based policy must Allow the action on the resource (else: implicitly denied);
3. and, when the principal has a permissions boundary, the boundary must Allow it too.

A statement applies when its Action (or NotAction) matches (case-insensitively), its Resource (or
NotResource) matches with its policy variables resolved from the request's context (policy_variables), and
every Condition holds with its values' variables resolved (policy_conditions, policy_variables). A statement
whose variable cannot be resolved does not apply, an Allow then grants nothing and a Deny denies nothing, as
documented. An operator the local stack does not know raises: a check that cannot be made is never waved
through.

One evaluator for every principal the local stack checks: the provisioner's own roles (role_enforcement) and,
through permissions_boundary, the users it issues keys to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from provisioner_local.policy_conditions import action_matches, as_list, condition_holds
from provisioner_local.policy_variables import resolved_condition, resource_matches

Effect = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]

IDENTITY: Final = "an identity-based policy"
BOUNDARY: Final = "a permissions boundary"


@dataclass(frozen=True)
class AuthorizationRequest:
    """One action on one resource, with the request's context keys (absent keys are simply not there)."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    effect: Effect
    # Which kind of policy decided (for AWS's message): IDENTITY or BOUNDARY.
    decided_by: str = IDENTITY

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"

    def message(self, principal_arn: str, request: AuthorizationRequest) -> str:
        """The words AWS uses in an AccessDenied for this decision."""
        head = (
            f"User: {principal_arn} is not authorized to perform: {request.action} "
            f"on resource: {request.resource}"
        )
        if self.effect == "ExplicitDeny":
            return f"{head} with an explicit deny in {self.decided_by}"
        kind = "identity-based policy" if self.decided_by == IDENTITY else "permissions boundary"
        return f"{head} because no {kind} allows the {request.action} action"


def statement_applies(statement: Mapping[str, Any], request: AuthorizationRequest) -> bool:
    if not action_matches(statement, request.action):
        return False
    if not resource_matches(statement, request.resource, request.context):
        return False
    condition = resolved_condition(statement.get("Condition") or {}, request.context)
    if condition is None:
        return False
    return condition_holds(condition, request.context)


def effects(documents: Iterable[Mapping[str, Any]], request: AuthorizationRequest) -> set[str]:
    """The Effects of every statement of `documents` that applies to the request."""
    return {
        str(statement.get("Effect"))
        for document in documents
        for statement in as_list(document.get("Statement"))
        if statement_applies(statement, request)
    }


def evaluate(
    identity_policies: Iterable[Mapping[str, Any]],
    request: AuthorizationRequest,
    boundary: Mapping[str, Any] | None = None,
) -> Decision:
    identity = effects(identity_policies, request)
    bounded = effects([boundary], request) if boundary is not None else {"Allow"}
    if "Deny" in identity:
        return Decision("ExplicitDeny", IDENTITY)
    if "Deny" in bounded:
        return Decision("ExplicitDeny", BOUNDARY)
    if "Allow" not in identity:
        return Decision("ImplicitDeny", IDENTITY)
    if "Allow" not in bounded:
        return Decision("ImplicitDeny", BOUNDARY)
    return Decision("Allow")
