"""One AWS call a function makes, as the local stack's role checks describe it (role_requests and
role_requests_iam), and the tag context keys every service's description shares."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class UnknownOperation(LookupError):
    """The local stack does not know how AWS authorizes this operation."""


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: Mapping[str, Any]
    region: str


def tags_context(tags: Iterable[Mapping[str, str]] | None, key: str = "aws:ResourceTag") -> dict[str, Any]:
    return {f"{key}/{tag['Key']}": tag["Value"] for tag in tags or ()}


def request_tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, Any]:
    tags = list(tags or ())
    if not tags:
        return {}
    return {**tags_context(tags, "aws:RequestTag"), "aws:TagKeys": [tag["Key"] for tag in tags]}
