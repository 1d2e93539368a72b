"""Each DynamoDB request is atomic, as in DynamoDB; moto checks a ConditionExpression and then writes
without a lock, so two threads can both win one conditional write.

AWS (DynamoDB developer guide, "Condition expressions"): a conditional write succeeds only if the condition
holds at the moment of the write, and of concurrent conditional writes to an item at most one whose condition
excludes the others succeeds. The registry's claims and the bucket leases rely on it; without this, a local
test of them could pass by luck or fail by chance.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

# Reentrant: a transaction's own reads run inside it.
LOCK = threading.RLock()
OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query", "scan")


class _PatchSet(Protocol):
    def set(self, target: Any, name: str, value: Any) -> None: ...


def install(patches: _PatchSet) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def atomic(backend: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with LOCK:
                return _original(backend, *args, **kwargs)

        patches.set(DynamoDBBackend, name, atomic)
