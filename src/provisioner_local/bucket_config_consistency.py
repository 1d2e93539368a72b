"""S3 bucket configuration is eventually consistent, modelled for CORS: a read soon after a write may
answer the configuration from before it. moto answers every read with the latest write.

AWS (S3 User Guide, "Amazon S3 data consistency model"): "Bucket configurations have an eventual consistency
model"; a read right after PutBucketCors may return the old configuration (../shared/notes/real-aws.md).
With `LocalStack(bucket_config_delay=SPEC)` (`serve --bucket-config-delay SPEC`) the local stack does so:
for SPEC seconds after a PutBucketCors or DeleteBucketCors, GetBucketCors, the preflights S3 answers and the
CORS headers of a GET (provisioner_local.s3_cors reads through GetBucketCors) all see the configuration
that was visible before the write. A second write inside the window keeps that older configuration visible
until its own delay has passed: no reader ever sees the configuration go back in time.

SPEC is iam_propagation's (`2`, or `lognormal:median=M,p95=P`), measured on the stacks' emulated clock
(LocalStack.clock): the Retry waits the stack shortens count in full, so a 2 s window costs a run the
retries it would cost in AWS and no real time. Off by default, for speed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner_local.iam_propagation import DelayModel, EmulatedClock
from provisioner_local.moto_targets import (
    S3_DELETE_BUCKET_CORS,
    S3_GET_BUCKET_CORS,
    S3_PUT_BUCKET_CORS,
    PatchSet,
)


@dataclass
class BucketConfigLag:
    """Per bucket: the CORS rules readers still see, and until when on the emulated clock."""

    model: DelayModel
    clock: EmulatedClock
    rng: random.Random = field(default_factory=random.Random)
    _stale: dict[str, tuple[list[Any], float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # (bucket, delay drawn) of every write, for tests and a person reading a run.
    writes: list[tuple[str, float]] = field(default_factory=list)

    def visible(self, bucket_name: str, current: list[Any]) -> list[Any]:
        now = self.clock.now()
        with self._lock:
            stale = self._stale.get(bucket_name)
            if stale is None:
                return current
            if now >= stale[1]:
                del self._stale[bucket_name]
                return current
            return list(stale[0])

    def written(self, bucket_name: str, visible_before: list[Any]) -> None:
        delay = self.model.draw(self.rng)
        with self._lock:
            self._stale[bucket_name] = (list(visible_before), self.clock.now() + delay)
            self.writes.append((bucket_name, delay))

    def settle(self) -> None:
        """Every write visible at once: what a bucket configured long before a run looks like."""
        with self._lock:
            self._stale.clear()


def install(patches: PatchSet, lag_of: Callable[[], BucketConfigLag | None]) -> None:
    """`lag_of` finds the running stacks' model when a call comes (None: reads see every write at once)."""

    original_get = S3_GET_BUCKET_CORS.original()
    original_put = S3_PUT_BUCKET_CORS.original()
    original_delete = S3_DELETE_BUCKET_CORS.original()

    def get_bucket_cors(backend: Any, bucket_name: str) -> list[Any]:
        current = original_get(backend, bucket_name)
        lag = lag_of()
        return current if lag is None else lag.visible(bucket_name, current)

    def writing(original: Callable[..., None]) -> Callable[..., None]:
        def write(backend: Any, bucket_name: str, *args: Any, **kwargs: Any) -> None:
            lag = lag_of()
            before = get_bucket_cors(backend, bucket_name) if lag is not None else []
            original(backend, bucket_name, *args, **kwargs)
            if lag is not None:
                lag.written(bucket_name, before)

        return write

    patches.set(S3_GET_BUCKET_CORS, get_bucket_cors)
    patches.set(S3_PUT_BUCKET_CORS, writing(original_put))
    patches.set(S3_DELETE_BUCKET_CORS, writing(original_delete))
