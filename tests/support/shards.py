"""Splitting one long test's cases into shards that pytest-xdist can run side by side (tests/conftest.py
groups each shard on its own); all shards together run every case exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def all(cls, count: int) -> list[Shard]:
        return [cls(index, count) for index in range(count)]

    def of(self, cases: Sequence[T]) -> list[T]:
        """Every count-th case from this shard's index: neighbours, often alike in cost, are spread out."""
        return list(cases[self.index :: self.count])

    def __str__(self) -> str:
        return f"shard{self.index + 1}of{self.count}"
