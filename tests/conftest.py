"""How the suite spreads over pytest-xdist's workers (`make pytest` runs `-n auto --dist loadgroup`).

A module's tests share its stack (package- and module-scoped fixtures), so a module goes to one worker as a
whole. A long test takes a `shard` parameter instead, and each shard is a group of its own: the fault tiers'
matrices, minutes each, then run side by side, every case still run exactly once.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        shard = callspec.params.get("shard") if callspec is not None else None
        module = item.nodeid.split("::", 1)[0]
        group = module if shard is None else f"{module}#{item.name}"
        item.add_marker(pytest.mark.xdist_group(group))
