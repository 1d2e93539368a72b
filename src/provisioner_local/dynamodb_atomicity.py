"""Each DynamoDB request is atomic, as in DynamoDB; moto checks a ConditionExpression and then writes
without a lock, so two threads can both win one conditional write.

AWS (DynamoDB developer guide, "Condition expressions"): a conditional write succeeds only if the condition
holds at the moment of the write, and of concurrent conditional writes to an item at most one whose condition
excludes the others succeeds. The registry's claims and the bucket leases rely on it; without this, a local
test of them could pass by luck or fail by chance.
"""

from __future__ import annotations

import threading
from typing import Any

from provisioner_local.moto_targets import DYNAMODB_OPERATIONS, PatchSet

# Reentrant: a transaction's own reads run inside it.
LOCK = threading.RLock()


def install(patches: PatchSet) -> None:
    for target in DYNAMODB_OPERATIONS:
        original = target.original()

        def atomic(backend: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with LOCK:
                return _original(backend, *args, **kwargs)

        patches.set(target, atomic)
