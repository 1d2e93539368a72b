"""The functions' statements in plain words, grouped by what they reach: one line per kind of resource.

Words are made from the statements themselves (action names split into words, resource ARNs and condition
keys recognised by shape), so what is printed follows template.yaml rather than a paragraph kept beside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from provisioner_ops.template_policies import Statement

_WORD: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\b|\d)|[A-Z][a-z]*|[a-z]+|\d+")
_SHAPES: Final = (
    (re.compile(r"^arn:[^:]+:iam::[^:]*:user(/.*/)\*$"), "IAM users on path {0}"),
    (re.compile(r"^arn:[^:]+:iam::[^:]*:policy(/.*/)\*$"), "IAM policies on path {0}"),
    (re.compile(r"^arn:[^:]+:iam::[^:]*:policy/(?:.*/)?([^/]+)$"), "IAM policy {0}"),
    (re.compile(r"^arn:[^:]+:s3:::([^/]+)$"), "buckets matching {0!r}"),
    (re.compile(r"^arn:[^:]+:s3:::([^/]+)/\*$"), "objects in buckets matching {0!r}"),
    (re.compile(r"^arn:[^:]+:s3:::([^/]+)/(.+)$"), "objects named {1!r} in buckets matching {0!r}"),
    (re.compile(r"^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.*\*)$"), "secrets named {0}"),
    (re.compile(r"^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+)$"), "the secret {0}"),
    (re.compile(r"^arn:[^:]+:kms:\*:[^:]*:key/\*$"), "KMS keys of this account, in any region"),
    (re.compile(r"^arn:[^:]+:kms:([^:]*):[^:]*:key/\*$"), "KMS keys of this account in {0}"),
    (re.compile(r"^arn:[^:]+:kms:.*:key/(.+)$"), "the KMS key {0}"),
    (re.compile(r"^arn:[^:]+:dynamodb:[^:]*:[^:]*:table/([^/]+)$"), "this stack's table {0}"),
    (re.compile(r"^arn:[^:]+:dynamodb:[^:]*:[^:]*:table/([^/]+)/index/(.+)$"), "index {1} of table {0}"),
    (re.compile(r"^arn:[^:]+:events:[^:]*:[^:]*:event-bus/(.+)$"), "the event bus {0}"),
    (re.compile(r"^arn:[^:]+:states:[^:]*:[^:]*:stateMachine:(.+)$"), "the state machine {0}"),
    (re.compile(r"^arn:[^:]+:states:[^:]*:[^:]*:execution:([^:]+):\*$"), "executions of {0}"),
    (re.compile(r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:(.+)$"), "the function {0}"),
    (re.compile(r"^\*$"), "any resource"),
)


def action_words(action: str) -> str:
    """`iam:CreateUser` -> `create user`; `s3:PutBucketCORS` -> `put bucket CORS`."""
    _, _, name = action.partition(":")
    if not name or " " in action:
        return action
    words = _WORD.findall(name)
    return " ".join(word if word.isupper() and len(word) > 1 else word.lower() for word in words)


def resource_words(arn: str) -> str:
    for shape, words in _SHAPES:
        match = shape.match(arn)
        if match:
            return words.format(*match.groups())
    return arn


def _last(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") and ":policy/" in value else value


def condition_words(operator: str, key: str, values: Sequence[str]) -> str:
    joined = ", ".join(values)
    if key == "iam:PermissionsBoundary":
        boundary = ", ".join(_last(value) for value in values)
        if operator.startswith("StringNot"):
            return f"unless the permissions boundary is {boundary}"
        return f"only with the permissions boundary {boundary}"
    if key == "s3:ResourceAccount" and operator == "StringEquals":
        return "only in this account"
    if operator == "Null" and key.startswith("aws:ResourceTag/"):
        tag = key.removeprefix("aws:ResourceTag/")
        return (
            f"only on resources tagged {tag}" if values == ("false",) else f"only on resources without {tag}"
        )
    if key == "aws:TagKeys":
        return f"with the tag keys {joined}"
    if key == "kms:ViaService":
        return f"only through {joined}"
    if key == "iam:PolicyARN":
        return "only with " + " or ".join(resource_words(value) for value in values)
    return f"when {key} {operator} {joined}"


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def describe(statements: Sequence[Statement]) -> list[str]:
    """One line per resource (allows, then explicit denies), in the order the template first names them."""
    # resource words -> condition words -> actions, so one line reads "verbs (limits); verbs (limits)".
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for statement in statements:
        limits = "; ".join(condition_words(*condition) for condition in statement.conditions)
        for resource in statement.resources:
            key = (statement.effect, resource_words(resource))
            groups.setdefault(key, {}).setdefault(limits, []).extend(statement.actions)
    lines = []
    for effect in ("Allow", "Deny"):
        for (kind, where), by_limit in groups.items():
            if kind != effect:
                continue
            parts = []
            for limits, actions in by_limit.items():
                verbs = ", ".join(_dedup(action_words(action) for action in actions))
                parts.append(f"{verbs} ({limits})" if limits else verbs)
            prefix = "never (explicit deny), on " if effect == "Deny" else "on "
            lines.append(f"{prefix}{where}: {'; '.join(parts)}")
    return lines
