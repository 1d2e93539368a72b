"""The evaluator against the IAM User Guide's "Policy evaluation logic" and "Condition operators"."""

from __future__ import annotations

import pytest

from provisioner_local.policy_evaluation import AuthorizationRequest, evaluate

USERS = "arn:aws:iam::123456789012:user/labellerr/*"
USER = "arn:aws:iam::123456789012:user/labellerr/labellerr-a"


def allow(action: object, resource: object = "*", condition: dict | None = None) -> dict:
    statement: dict = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def deny(action: object, resource: object = "*", condition: dict | None = None) -> dict:
    document = allow(action, resource, condition)
    document["Statement"][0]["Effect"] = "Deny"
    return document


def test_nothing_allowed_is_an_implicit_deny() -> None:
    decision = evaluate([], AuthorizationRequest("iam:GetUser", USER))
    assert decision.effect == "ImplicitDeny"
    assert "because no identity-based policy allows the iam:GetUser action" in decision.message(
        "arn:aws:sts::123456789012:assumed-role/R/F", AuthorizationRequest("iam:GetUser", USER)
    )


def test_an_explicit_deny_overrides_any_allow() -> None:
    request = AuthorizationRequest("iam:CreateLoginProfile", USER)
    decision = evaluate([allow("iam:*", USERS), deny("iam:CreateLoginProfile")], request)
    assert decision.effect == "ExplicitDeny"
    assert decision.message("p", request).endswith("with an explicit deny in an identity-based policy")


def test_actions_match_case_insensitively_and_with_wildcards() -> None:
    assert evaluate([allow("IAM:getuser", USERS)], AuthorizationRequest("iam:GetUser", USER)).allowed
    assert evaluate([allow("iam:List*", USERS)], AuthorizationRequest("iam:ListAccessKeys", USER)).allowed
    assert not evaluate([allow("iam:List*", USERS)], AuthorizationRequest("iam:DeleteUser", USER)).allowed


def test_resources_match_case_sensitively_and_the_path_is_part_of_the_arn() -> None:
    assert not evaluate(
        [allow("iam:GetUser", USERS.upper())], AuthorizationRequest("iam:GetUser", USER)
    ).allowed
    # A user that does not exist has no path: a path-scoped grant does not match its ARN.
    pathless = AuthorizationRequest("iam:GetUser", "arn:aws:iam::123456789012:user/labellerr-a")
    assert not evaluate([allow("iam:GetUser", USERS)], pathless).allowed


def test_not_action_and_not_resource() -> None:
    document = {
        "Statement": [{"Effect": "Deny", "NotAction": "s3:GetObject", "NotResource": "arn:aws:s3:::a/*"}]
    }
    assert evaluate(
        [allow("s3:*"), document], AuthorizationRequest("s3:PutObject", "arn:aws:s3:::b/k")
    ).effect == ("ExplicitDeny")
    assert evaluate(
        [allow("s3:*"), document], AuthorizationRequest("s3:GetObject", "arn:aws:s3:::b/k")
    ).allowed
    assert evaluate(
        [allow("s3:*"), document], AuthorizationRequest("s3:PutObject", "arn:aws:s3:::a/k")
    ).allowed


def test_a_condition_on_an_absent_key_does_not_hold_but_its_negation_and_null_do() -> None:
    request = AuthorizationRequest("iam:DeleteAccessKey", USER)
    tagged = {"Null": {"aws:ResourceTag/labellerr:connection-id": "false"}}
    assert not evaluate([allow("iam:DeleteAccessKey", USERS, tagged)], request).allowed
    with_tag = AuthorizationRequest(request.action, USER, {"aws:ResourceTag/labellerr:connection-id": "c-1"})
    assert evaluate([allow("iam:DeleteAccessKey", USERS, tagged)], with_tag).allowed
    assert not evaluate(
        [allow("iam:DeleteAccessKey", USERS, {"StringEquals": {"aws:ResourceTag/x": "1"}})], request
    ).allowed
    assert evaluate(
        [allow("iam:DeleteAccessKey", USERS, {"StringNotEquals": {"aws:ResourceTag/x": "1"}})], request
    ).allowed


def test_set_operators_on_multivalued_keys() -> None:
    keys = ["labellerr:connection-id", "labellerr:execution-arn"]
    only_ours = {"ForAllValues:StringEquals": {"aws:TagKeys": keys}}
    ours = AuthorizationRequest("iam:TagUser", USER, {"aws:TagKeys": keys[:1]})
    theirs = AuthorizationRequest("iam:TagUser", USER, {"aws:TagKeys": [keys[0], "team"]})
    assert evaluate([allow("iam:TagUser", USERS, only_ours)], ours).allowed
    assert not evaluate([allow("iam:TagUser", USERS, only_ours)], theirs).allowed
    # ForAllValues holds over no values at all; ForAnyValue does not.
    untagged = AuthorizationRequest("iam:TagUser", USER)
    assert evaluate([allow("iam:TagUser", USERS, only_ours)], untagged).allowed
    any_fence = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["labellerr-fence-bucket"]}}
    assert evaluate([allow("iam:TagUser", USERS), deny("iam:TagUser", "*", any_fence)], untagged).allowed


def test_policy_variables_resolve_from_the_context_and_an_unresolvable_one_matches_nothing() -> None:
    fenced = allow("s3:GetObject", "arn:aws:s3:::${aws:PrincipalTag/labellerr-fence-bucket}/*")
    request = AuthorizationRequest(
        "s3:GetObject", "arn:aws:s3:::acme/k", {"aws:PrincipalTag/labellerr-fence-bucket": "acme"}
    )
    assert evaluate([fenced], request).allowed
    assert not evaluate([fenced], AuthorizationRequest("s3:GetObject", "arn:aws:s3:::acme/k")).allowed
    # An unresolvable variable in a Deny denies nothing either.
    denied = deny("s3:GetObject", "arn:aws:s3:::${aws:PrincipalTag/missing}/*")
    assert evaluate(
        [allow("s3:*"), denied], AuthorizationRequest("s3:GetObject", "arn:aws:s3:::acme/k")
    ).allowed


@pytest.mark.parametrize(
    ("boundary", "effect"),
    [
        (allow("s3:GetObject"), "Allow"),
        (allow("s3:ListBucket"), "ImplicitDeny"),
        ({"Statement": [*allow("s3:*")["Statement"], *deny("s3:GetObject")["Statement"]]}, "ExplicitDeny"),
    ],
)
def test_a_permissions_boundary_must_allow_too(boundary: dict, effect: str) -> None:
    request = AuthorizationRequest("s3:GetObject", "arn:aws:s3:::acme/k")
    assert evaluate([allow("s3:*")], request, boundary).effect == effect


def test_an_operator_the_local_stack_does_not_know_is_never_waved_through() -> None:
    document = allow("s3:GetObject", "*", {"NumericGreaterThanEquals": {"s3:max-keys": "10"}})
    with pytest.raises(NotImplementedError):
        evaluate([document], AuthorizationRequest("s3:GetObject", "arn:aws:s3:::a/k", {"s3:max-keys": "5"}))
