"""Reading the statements of a policy document the customer wrote (a KMS key policy, a bucket policy).

Their fields take one value or a list, and their actions are patterns matched case-insensitively.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns)
