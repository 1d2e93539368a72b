"""Secrets Manager deletes asynchronously, also with ForceDeleteWithoutRecovery; moto deletes at once.

AWS (Secrets Manager API reference, DeleteSecret): "Secrets Manager performs the actual deletion with an
asynchronous and separate mechanism" and, for ForceDeleteWithoutRecovery, tells callers to "use appropriate
back off and retry logic" before creating a secret with the same name (../shared/notes/real-aws.md). Until
the deletion finishes the name stays taken: CreateSecret fails with InvalidRequestException "You can't
create this secret because a secret with this name is already scheduled for deletion.", DescribeSecret
still answers, with DeletedDate, and GetSecretValue and PutSecretValue refuse the secret.

Always, as AWS does: CreateSecret of a name whose secret is scheduled for deletion (a recovery window, or a
forced deletion not finished) fails with that InvalidRequestException; moto answers ResourceExistsException,
which would read as "somebody else's secret". With `LocalStack(secret_deletion_delay=SPEC)`
(`serve --secret-deletion-delay SPEC`), a forced deletion also takes SPEC seconds to finish, on the stacks'
emulated clock (LocalStack.clock): the Retry waits the stack shortens count in full, no real time passes.
SPEC is iam_propagation's (`5`, or `lognormal:median=M,p95=P`). Off by default, for speed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from provisioner_local.iam_propagation import DelayModel, EmulatedClock
from provisioner_local.moto_targets import (
    SECRETS_CREATE_SECRET,
    SECRETS_DELETE_SECRET,
    SECRETS_FINISHING_FIRST,
    MotoTarget,
    PatchSet,
)

SCHEDULED_FOR_DELETION: Final = (
    "You can't create this secret because a secret with this name is already scheduled for deletion."
)


@dataclass
class SecretDeletionLag:
    """Force-deleted secrets still in their backend, and when each deletion finishes (emulated clock)."""

    model: DelayModel
    clock: EmulatedClock
    rng: random.Random = field(default_factory=random.Random)
    _pending: dict[tuple[int, str], tuple[Any, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deleting(self, backend: Any, name: str) -> None:
        finishes = self.clock.now() + self.model.draw(self.rng)
        with self._lock:
            self._pending.setdefault((id(backend), name), (backend, finishes))

    def finish_due(self, *, everything: bool = False) -> None:
        """Finish the deletions whose time has come (`everything`: all of them)."""
        now = self.clock.now()
        with self._lock:
            due = [(key, b) for key, (b, at) in self._pending.items() if everything or now >= at]
            for key, _ in due:
                del self._pending[key]
        for (_, name), backend in due:
            secret = backend.secrets.get(name)
            # A name re-created after the deletion finished is another secret: leave it.
            if secret is not None and secret.is_deleted():
                backend.secrets.pop(name)

    def settle(self) -> None:
        """Every pending deletion finished: what a name deleted long before a run looks like."""
        self.finish_due(everything=True)


def install(patches: PatchSet, lag_of: Callable[[], SecretDeletionLag | None]) -> None:
    """`lag_of` finds the running stacks' model when a call comes (None: forced deletions finish at once)."""
    from moto.secretsmanager.exceptions import InvalidRequestException

    def finishing(target: MotoTarget) -> None:
        original = target.original()

        def call(backend: Any, *args: Any, **kwargs: Any) -> Any:
            lag = lag_of()
            if lag is not None:
                lag.finish_due()
            return original(backend, *args, **kwargs)

        patches.set(target, call)

    for target in SECRETS_FINISHING_FIRST:
        finishing(target)

    original_create = SECRETS_CREATE_SECRET.original()

    def create_secret(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        lag = lag_of()
        if lag is not None:
            lag.finish_due()
        existing = backend.secrets.get(name)
        if existing is not None and getattr(existing, "is_deleted", lambda: False)():
            raise InvalidRequestException(SCHEDULED_FOR_DELETION)
        return original_create(backend, name, *args, **kwargs)

    original_delete = SECRETS_DELETE_SECRET.original()

    def delete_secret(
        backend: Any,
        secret_id: str,
        recovery_window_in_days: int | None,
        force_delete_without_recovery: bool,
    ) -> tuple[str, str, float]:
        lag = lag_of()
        if lag is not None:
            lag.finish_due()
        secret = backend.secrets.get(secret_id)
        if lag is None or not force_delete_without_recovery or secret is None or recovery_window_in_days:
            return original_delete(backend, secret_id, recovery_window_in_days, force_delete_without_recovery)
        if getattr(secret, "replicas", None):
            # moto's own refusal (a secret with replicas cannot be deleted) is not this module's concern.
            return original_delete(backend, secret_id, recovery_window_in_days, force_delete_without_recovery)
        now = time.time()
        if not secret.is_deleted():
            secret.delete(now)
        lag.deleting(backend, secret.name)
        return secret.arn, secret.name, now

    patches.set(SECRETS_CREATE_SECRET, create_secret)
    patches.set(SECRETS_DELETE_SECRET, delete_secret)
