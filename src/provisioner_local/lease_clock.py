"""The functions' bucket leases on a clock that skips the time a run spends waiting alone.

provisioner_core.lease (the CORS lease) and provisioner_core.objects_lease wait for a busy bucket in real
time (up to 5 s and 20 s, against time.monotonic, sleeping with time.sleep) and let a holder's share lapse
60 s after it was taken (time.time, written into the lease item). A run whose lease reply was lost (the
fault tiers' `dynamodb:UpdateItem:lost`) holds a share nobody will give back, and the next step waited a
full real minute for it to lapse.

The lease clock is real time plus the waits skipped while no other handler was running: the wait of a run
alone (with fast waits: its lease sleeps, and its Retry intervals and pauses, which the stacks shorten
anyway) costs every attempt it costs in AWS and moves the lease clock on by the whole wait, so a leaked
share lapses after 60 s of that clock and no real minute. While another handler runs (a holder at work,
concurrent runs on one bucket) a lease wait sleeps in real time, as before, and the lease clock stands
still: a live holder's share never lapses early because its waiters sped their own clock up.

The product takes these as keyword defaults (`clock=time.time`, `sleep=time.sleep`) and reads
`time.monotonic` through its module; TARGETS lists each, and tests/local/test_lease_clock.py fails by name
when one moves.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from provisioner_local.lambda_runtime import IN_FLIGHT
from provisioner_local.running_stacks import RUNNING, RunningStacks


@dataclass(frozen=True)
class LeaseTarget:
    """`module:function` of a lease whose `clock` and `sleep` keyword defaults the stack replaces."""

    module: str
    function: str

    def __str__(self) -> str:
        return f"{self.module}:{self.function}"

    def defaults(self) -> dict[str, Any]:
        """The keyword defaults of the generator under the @contextmanager wrapper (shared with it)."""
        wrapper = getattr(importlib.import_module(self.module), self.function)
        kwdefaults: dict[str, Any] = wrapper.__wrapped__.__kwdefaults__
        return kwdefaults


TARGETS: Final = (
    LeaseTarget("provisioner_core.lease", "bucket_lease"),
    LeaseTarget("provisioner_core.objects_lease", "objects_lease"),
)
# The module whose `time.monotonic` bounds a lease wait (lease.wait_for, used by both leases).
WAIT_MODULE: Final = "provisioner_core.lease"


class _LeaseTime:
    """The `time` module as the lease's wait sees it: monotonic on the lease clock, the rest real."""

    def __init__(self, clock: LeaseClock) -> None:
        self._clock = clock

    def monotonic(self) -> float:
        return time.monotonic() + self._clock.skipped

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class LeaseClock:
    """Installed by the first stack to start, undone by the last to stop (stack_startup.ClientHooks)."""

    def __init__(self, stacks: RunningStacks) -> None:
        self._stacks = stacks
        self._lock = threading.Lock()
        self._skipped = 0.0
        self._saved: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self._saved_time: tuple[Any, Any] | None = None

    @property
    def installed(self) -> bool:
        return self._saved_time is not None

    @property
    def skipped(self) -> float:
        with self._lock:
            return self._skipped

    def epoch(self) -> float:
        """time.time() on the lease clock: what a lease item's expiry is written and compared in."""
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        """A lease wait's sleep: shortened when the run waits alone, real while another handler works."""
        if IN_FLIGHT.others() == 0 and self._stacks.fast_waits():
            self._stacks.shortened_sleep(seconds)
        else:
            time.sleep(seconds)

    def _skipped_by_stacks(self, seconds: float) -> None:
        # Called after every skipped wait (RunningStacks.skip_listeners), in the waiting thread.
        if seconds > 0 and IN_FLIGHT.others() == 0:
            with self._lock:
                self._skipped += seconds

    def install(self) -> None:
        if self.installed:
            return
        try:
            wait_module: Any = importlib.import_module(WAIT_MODULE)
            targets = [target.defaults() for target in TARGETS]
        except ImportError:
            # A template without the project's layer has no leases to speed up.
            return
        for defaults in targets:
            self._saved.append((defaults, {"clock": defaults["clock"], "sleep": defaults["sleep"]}))
            defaults["clock"] = self.epoch
            defaults["sleep"] = self.sleep
        self._saved_time = (wait_module, wait_module.time)
        wait_module.time = _LeaseTime(self)
        self._stacks.skip_listeners.append(self._skipped_by_stacks)

    def uninstall(self) -> None:
        for defaults, original in self._saved:
            defaults.update(original)
        self._saved.clear()
        if self._saved_time is not None:
            module, original_time = self._saved_time
            module.time = original_time
            self._saved_time = None
        if self._skipped_by_stacks in self._stacks.skip_listeners:
            self._stacks.skip_listeners.remove(self._skipped_by_stacks)


# One for the process, like the emulated clock: the leases' module defaults are process-wide. A lease a test
# takes itself must be taken on it, or the functions would see it expired (or never expiring).
LEASE_CLOCK: Final = LeaseClock(RUNNING)
