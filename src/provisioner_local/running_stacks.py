"""The local stacks running in this process, and what they share: moto's patches (installed by the first to
start, undone by the last to stop), the access keys moto issued, the emulated clock, and the lookups the
patches make when moto calls them (which stack serves a port, owns a function, models a delay).

A stack is seen here only through RunningStack, the little the patches read of it, so this module, the
patches (aws_patches) and EventBridge's delivery (event_delivery) import nothing of the emulator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from provisioner_local.bucket_config_consistency import BucketConfigLag
from provisioner_local.iam_propagation import EmulatedClock, Propagation
from provisioner_local.iam_throttle import IamThrottle
from provisioner_local.lambda_runtime import split_function_name
from provisioner_local.secret_deletion import SecretDeletionLag
from provisioner_local.stepped_waits import SteppedWaits
from provisioner_local.template import function_arn

# A Retry's IntervalSeconds or a Wait state still yields, but never for longer than this.
FAST_WAIT_SECONDS: Final = 0.01


class RunningStack(Protocol):
    """What the patches read of a running LocalStack."""

    @property
    def port(self) -> int: ...
    @property
    def fast_waits(self) -> bool: ...
    @property
    def stepped_waits(self) -> bool: ...
    @property
    def enforce_iam(self) -> bool: ...
    @property
    def functions(self) -> Mapping[str, Any]: ...
    @property
    def propagation(self) -> Propagation | None: ...
    @property
    def bucket_config(self) -> BucketConfigLag | None: ...
    @property
    def secret_deletion(self) -> SecretDeletionLag | None: ...
    @property
    def iam_throttle(self) -> IamThrottle | None: ...

    def record_event(self, record: dict[str, Any]) -> None: ...

    def invoke(
        self, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes: ...


class RunningStacks:
    """The running stacks, oldest first, and the state they share; one for the process (RUNNING)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._running: list[RunningStack] = []
        # Every access key moto issued in this process: a deleted key must be rejected, not waved through.
        self.issued_keys: set[str] = set()
        # Real time plus every wait the stacks shortened. One for the process, as moto's data is: a secret
        # deleted through one stack is still being deleted when another reads it.
        self.clock = EmulatedClock()
        # Wait states parked until a test steps them, for the stacks that ask (stepped_waits).
        self.waits = SteppedWaits(self.skip_clocks)
        # Told of every skipped wait after the clocks moved (the lease clock counts some of them).
        self.skip_listeners: list[Callable[[float], None]] = []

    def running(self) -> list[RunningStack]:
        with self.lock:
            return list(self._running)

    def is_running(self, stack: RunningStack) -> bool:
        with self.lock:
            return stack in self._running

    def add(self, stack: RunningStack) -> bool:
        """Adds a stack; True when it is the first (the caller installs the shared patches)."""
        with self.lock:
            self._running.append(stack)
            return len(self._running) == 1

    def remove(self, stack: RunningStack) -> bool:
        """Removes a stack; True when it was the last (the caller undoes the shared patches)."""
        with self.lock:
            if stack not in self._running:
                return False
            self._running.remove(stack)
            return not self._running

    def others(self, stack: object) -> list[Any]:
        """The other stacks running in this process, oldest first."""
        with self.lock:
            return [other for other in self._running if other is not stack]

    def dispatch_invoke(
        self, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        """Lambda's Invoke: the newest running stack that has the function runs it."""
        from moto.awslambda.exceptions import UnknownFunctionException

        name, _ = split_function_name(function_name)
        with self.lock:
            owner = next((stack for stack in reversed(self._running) if name in stack.functions), None)
        if owner is None:
            raise UnknownFunctionException(function_arn(name))
        return owner.invoke(function_name, qualifier, body, headers, response_headers)

    def bucket_config(self) -> BucketConfigLag | None:
        """The bucket configuration model of the oldest running stack that has one."""
        with self.lock:
            return next((s.bucket_config for s in self._running if s.bucket_config is not None), None)

    def secret_deletion(self) -> SecretDeletionLag | None:
        """The secret deletion model of the oldest running stack that has one."""
        with self.lock:
            return next((s.secret_deletion for s in self._running if s.secret_deletion is not None), None)

    def propagation(self) -> Propagation | None:
        """The propagation model of the oldest running stack that has one."""
        with self.lock:
            return next((s.propagation for s in self._running if s.propagation is not None), None)

    def iam_throttle_for(self, host: str) -> IamThrottle | None:
        """The throttle of the running stack whose server a request with this Host header reached."""
        with self.lock:
            return next(
                (
                    stack.iam_throttle
                    for stack in self._running
                    if stack.iam_throttle is not None and stack.port and host.endswith(f":{stack.port}")
                ),
                None,
            )

    def is_stack_host(self, host: str, *, enforcing_iam: bool = False) -> bool:
        """Whether a request came to a running stack's server (its Host header names the port); with
        `enforcing_iam`, to one that checks IAM policies."""
        with self.lock:
            ports = {s.port for s in self._running if s.port and (s.enforce_iam or not enforcing_iam)}
        return any(host.endswith(f":{port}") for port in ports)

    def record_event(self, record: dict[str, Any]) -> None:
        for stack in self.running():
            stack.record_event(record)

    def fast_waits(self) -> bool:
        with self.lock:
            return any(stack.fast_waits for stack in self._running)

    def stepped_waits(self) -> bool:
        with self.lock:
            return any(stack.stepped_waits for stack in self._running)

    def skip_clocks(self, seconds: float) -> None:
        """The emulated clocks move on by a wait that was skipped, as time would in AWS."""
        self.clock.skip(seconds)
        propagation = self.propagation()
        if propagation is not None and propagation.clock is not self.clock:
            propagation.clock.skip(seconds)
        for listener in list(self.skip_listeners):
            listener(seconds)

    def shortened_sleep(self, seconds: float) -> None:
        """A Retry's interval, or a step's own wait (provisioner_core.aws.pause): at most FAST_WAIT_SECONDS
        of real time while a stack runs with fast waits, the whole wait on the emulated clocks."""
        if not self.fast_waits():
            time.sleep(seconds)
            return
        time.sleep(min(seconds, FAST_WAIT_SECONDS))
        self.skip_clocks(seconds - FAST_WAIT_SECONDS)


RUNNING: Final = RunningStacks()
