"""IAM policy variables (`${aws:PrincipalTag/team}`, `${aws:username}`, ...) in Resource and Condition, as
the IAM User Guide documents them ("IAM policy elements: Variables and tags"):

- `${key}` is replaced by the value of that key in the request's context; key names are case-insensitive;
- `${key, 'default'}` uses the default when the key is absent (`''` in a default stands for one quote);
- `${*}`, `${?}` and `${$}` are the literal characters, never wildcards;
- a variable whose key is absent (and has no default), or is multivalued, cannot be resolved, and then the
  statement does not match: an Allow grants nothing, a Deny denies nothing;
- a variable's value is matched as it is: a `*` or `?` in it is not a wildcard (IAM's tag values cannot hold
  either anyway).

moto leaves `${...}` in place and matches it as text; the local stack's own policy checks use this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provisioner_local.policy_conditions import as_list

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'((?:[^']|'')*)'\s*$")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


class Unresolvable(LookupError):
    """A variable names a key the request does not have, or one with several values."""


def _value(body: str, context: Mapping[str, Any]) -> str:
    if body in _LITERALS:
        return _LITERALS[body]
    default: str | None = None
    key = body.strip()
    with_default = _DEFAULT.fullmatch(body)
    if with_default is not None:
        key, default = with_default.group(1), with_default.group(2).replace("''", "'")
    value = {name.lower(): v for name, v in context.items() if v is not None}.get(key.lower())
    if isinstance(value, list | tuple | set | frozenset):
        value = None if len(value) != 1 else next(iter(value))
    if value is None:
        if default is None:
            raise Unresolvable(key)
        return default
    return str(value)


def substitute(text: str, context: Mapping[str, Any]) -> str:
    """`text` with every variable replaced by its value (for Condition values). Raises Unresolvable."""
    return _VARIABLE.sub(lambda match: _value(match.group(1), context), text)


def pattern(text: str, context: Mapping[str, Any]) -> re.Pattern[str]:
    """A Resource pattern as a regular expression: the policy's own `*` and `?` are wildcards, the
    variables' values and `${*}`, `${?}`, `${$}` are literal. Raises Unresolvable."""
    parts: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        parts.append(_wildcards(text[position : match.start()]))
        parts.append(re.escape(_value(match.group(1), context)))
        position = match.end()
    parts.append(_wildcards(text[position:]))
    return re.compile("".join(parts), re.DOTALL)


def _wildcards(text: str) -> str:
    return "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text)


def resource_matches(statement: Mapping[str, Any], resource: str, context: Mapping[str, Any]) -> bool:
    """Resource (or NotResource) with variables; a statement with an unresolvable one does not match."""
    negated = "NotResource" in statement
    try:
        patterns = [
            pattern(str(p), context) for p in as_list(statement["NotResource" if negated else "Resource"])
        ]
    except Unresolvable:
        return False
    matched = any(p.fullmatch(resource) for p in patterns)
    return not matched if negated else matched


def resolved_condition(condition: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Condition block with its values' variables replaced, or None when one cannot be resolved (the
    statement then does not match)."""
    resolved: dict[str, Any] = {}
    try:
        for operator, entries in condition.items():
            resolved[operator] = {
                key: [substitute(str(value), context) for value in as_list(values)]
                for key, values in (entries or {}).items()
            }
    except Unresolvable:
        return None
    return resolved
