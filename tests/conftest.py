"""How the suite spreads over pytest-xdist's workers (`make pytest` runs `-n auto --dist loadgroup`).

A module's tests share its stack (package- and module-scoped fixtures), so a module goes to one worker as a
whole. A long test takes a `shard` parameter instead, and each shard is a group of its own: the fault tiers'
matrices, minutes each, then run side by side, every case still run exactly once, and start first.
"""

from __future__ import annotations

import pytest


def _is_shard(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "shard" in callspec.params


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        group = f"{module}#{item.name}" if _is_shard(item) else module
        item.add_marker(pytest.mark.xdist_group(group))
    if config.getoption("dist", "no") != "no":
        # The shards are the longest groups (a minute or more each): handed out first, the short modules
        # then fill in around them, instead of one shard running alone at the end. xdist hands groups out
        # in this order with --no-loadscope-reorder (make pytest); its default order, most tests first,
        # would put every one-test shard last.
        items.sort(key=lambda item: not _is_shard(item))
