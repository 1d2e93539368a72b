"""Secret access keys a test reads to look for them where they must not be, without ever showing them."""

from __future__ import annotations

import json


class SecretValue:
    """A secret access key that never shows itself: pytest prints the repr of locals and arguments, and
    both operands of an `in` it rewrote, so a test compares through `found_in` and asserts on the bool."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        assert len(value) >= 20, "not a secret access key"
        self._value = value

    def __repr__(self) -> str:
        return "<secret access key, not shown>"

    def found_in(self, where: object) -> bool:
        """Whether the value appears anywhere in `where` (a string, or anything JSON can render)."""
        text = where if isinstance(where, str) else json.dumps(where, default=str)
        return self._value in text
