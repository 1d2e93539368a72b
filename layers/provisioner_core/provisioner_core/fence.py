"""The principal tags that fence a connection's user to its own bucket and prefix.

The stack's permissions boundary names the objects a user may reach through these tags
(`${aws:PrincipalTag/labellerr-fence-bucket}/${aws:PrincipalTag/labellerr-fence-prefix}*`), so even a policy
widened by hand cannot take the issued key outside its connection's prefix. Create user sets them with the
user (CreateUser's Tags); the guardrail denies every provisioner role changing or removing them afterwards,
and the boundary grants the user no IAM action at all.

An IAM tag value holds at most 256 characters of Unicode letters, numbers and separators (spaces) and
`_ . : / = + - @` (IAM API reference, "Tag": `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`). Every bucket name fits.
A prefix that does not (longer than 256 characters, or holding any other character:
`! ' ( ) , ; & # % ~ ^ [ ] < > |`, a backslash, a quote, a symbol such as `€` or an emoji, a combining mark)
gets no prefix tag: its user is fenced to its bucket only, and its own policy (which the provisioner alone
writes) keeps it to the prefix.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_iam.type_defs import TagTypeDef

TAG_FENCE_BUCKET = "labellerr-fence-bucket"
TAG_FENCE_PREFIX = "labellerr-fence-prefix"
FENCE_TAG_KEYS = (TAG_FENCE_BUCKET, TAG_FENCE_PREFIX)
TAG_VALUE_MAX = 256
_TAG_VALUE_PUNCTUATION = frozenset("_.:/=+-@")
# \p{L} letters, \p{Z} separators, \p{N} numbers: the Unicode general categories that start with these.
_TAG_VALUE_CATEGORIES = ("L", "Z", "N")


def tag_value_problem(value: str) -> str | None:
    """Why IAM would refuse `value` as a tag value, or None."""
    # IAM's service is Java: its length check most likely counts UTF-16 code units, in which a character
    # beyond U+FFFF (a rare CJK ideograph) is two. The stricter count holds under either reading.
    if len(value.encode("utf-16-le")) // 2 > TAG_VALUE_MAX:
        return f"longer than {TAG_VALUE_MAX} characters (UTF-16 code units)"
    for char in value:
        allowed = char in _TAG_VALUE_PUNCTUATION or unicodedata.category(char).startswith(
            _TAG_VALUE_CATEGORIES
        )
        if not allowed:
            return f"holds {char!r}, which a tag value cannot"
    return None


def prefix_fenced(prefix: str) -> bool:
    """Whether the boundary can fence a user to `prefix` itself (an empty prefix is the whole bucket)."""
    return bool(prefix) and tag_value_problem(prefix) is None


def fence_tags(bucket: str, prefix: str) -> list[TagTypeDef]:
    """The bucket always; the prefix when it has one that a tag value can hold."""
    tags: list[TagTypeDef] = [{"Key": TAG_FENCE_BUCKET, "Value": bucket}]
    if prefix_fenced(prefix):
        tags.append({"Key": TAG_FENCE_PREFIX, "Value": prefix})
    return tags
