"""IAM refuses a policy document outside its character pattern or over its size quota; moto 5.2.5 takes both.

AWS's rules:
- IAM API reference, CreatePolicy / CreatePolicyVersion / PutUserPolicy, parameter PolicyDocument: pattern
  `[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+` ("IAM and AWS STS quotas": "Policy documents can contain only the
  following Unicode characters: horizontal tab (U+0009), linefeed (U+000A), carriage return (U+000D), and
  characters in the range U+0020 to U+00FF"). IAM checks it before reading the document and answers
  400 ValidationError, "1 validation error detected: Value ... at 'policyDocument' failed to satisfy
  constraint: Member must satisfy regular expression pattern: ...". A JSON escape (`\\u753b`) is six
  characters of the range and is accepted.
- IAM user guide, "IAM and AWS STS quotas": a managed policy holds at most 6,144 characters, an IAM user's
  inline policies together at most 2,048, and "IAM doesn't count white space". Over the quota IAM answers
  409 LimitExceeded: "Cannot exceed quota for PolicySize: 6144" (CreatePolicy, CreatePolicyVersion);
  "Maximum policy size of 2048 bytes exceeded for user <name>" (PutUserPolicy).

Whether IAM skips white space inside strings too is not written down: the local stack skips all of it (the
looser reading), so a document the provisioner counts as fitting (it counts those spaces) fits here too.
"""

from __future__ import annotations

import re
from typing import Any, Final

from provisioner_local.moto_targets import (
    IAM_CREATE_POLICY,
    IAM_CREATE_POLICY_VERSION,
    IAM_PUT_USER_POLICY,
    PatchSet,
)

CHARACTER_PATTERN: Final = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
MANAGED_POLICY_MAX: Final = 6144
USER_INLINE_POLICIES_MAX: Final = 2048
_DOCUMENT = re.compile(CHARACTER_PATTERN)
_WHITE_SPACE = re.compile(r"\s")


def counted_size(document: str) -> int:
    """The characters IAM counts against a policy quota: all but white space."""
    return len(_WHITE_SPACE.sub("", document))


def character_problem(document: str) -> str | None:
    """IAM's ValidationError message for a document outside the pattern, or None."""
    if _DOCUMENT.fullmatch(document):
        return None
    return (
        f"1 validation error detected: Value '{document}' at 'policyDocument' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {CHARACTER_PATTERN}"
    )


def managed_size_problem(document: str) -> str | None:
    if counted_size(document) <= MANAGED_POLICY_MAX:
        return None
    return f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_MAX}"


def inline_size_problem(user_name: str, documents: list[str]) -> str | None:
    """`documents`: every inline policy the user would hold, the new one included."""
    if sum(counted_size(document) for document in documents) <= USER_INLINE_POLICIES_MAX:
        return None
    return f"Maximum policy size of {USER_INLINE_POLICIES_MAX} bytes exceeded for user {user_name}"


def install(patches: PatchSet) -> None:
    from moto.iam.exceptions import LimitExceededException, ValidationError

    def refuse_characters(document: str) -> None:
        if problem := character_problem(document):
            raise ValidationError(problem)

    original_create_policy = IAM_CREATE_POLICY.original()
    original_create_policy_version = IAM_CREATE_POLICY_VERSION.original()
    original_put_user_policy = IAM_PUT_USER_POLICY.original()

    def create_policy(
        backend: Any,
        description: str,
        path: str,
        policy_document: str,
        policy_name: str,
        tags: list[dict[str, str]],
    ) -> Any:
        refuse_characters(policy_document)
        if problem := managed_size_problem(policy_document):
            raise LimitExceededException(problem)
        return original_create_policy(backend, description, path, policy_document, policy_name, tags)

    def create_policy_version(
        backend: Any, policy_arn: str, policy_document: str, set_as_default: bool
    ) -> Any:
        refuse_characters(policy_document)
        if problem := managed_size_problem(policy_document):
            raise LimitExceededException(problem)
        return original_create_policy_version(backend, policy_arn, policy_document, set_as_default)

    def put_user_policy(backend: Any, user_name: str, policy_name: str, policy_json: str) -> None:
        refuse_characters(policy_json)
        others = [doc for name, doc in backend.get_user(user_name).policies.items() if name != policy_name]
        if problem := inline_size_problem(user_name, [*others, policy_json]):
            raise LimitExceededException(problem)
        original_put_user_policy(backend, user_name, policy_name, policy_json)

    patches.set(IAM_CREATE_POLICY, create_policy)
    patches.set(IAM_CREATE_POLICY_VERSION, create_policy_version)
    patches.set(IAM_PUT_USER_POLICY, put_user_policy)
