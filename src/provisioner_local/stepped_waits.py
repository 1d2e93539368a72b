"""Wait states that end when a test steps them, not after real seconds (LocalStack(stepped_waits=True)).

A test that acts inside a stage of a long flow (a key rotation: checks a day apart, a consumer adopting the
new key between two of them) needs the flow to stay in that stage until it has acted. Real waits made such a
test sleep, and still raced the flow. Stepped, an execution that enters a Wait state parks there; the test
releases it (`step`) when it wants that time to have passed, and the emulated clocks move on by the whole
wait, as after a shortened one. Nothing else changes: the state's length, its history events, and a stopped
execution leaves its Wait at once, as in Step Functions.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

# How often a parked Wait looks whether its execution was stopped (moto only flags it).
_STOP_POLL_SECONDS: Final = 0.05


@dataclass(eq=False)
class Hold:
    """One execution parked in one Wait state."""

    execution_arn: str
    seconds: float
    number: int
    released: threading.Event = field(default_factory=threading.Event)


class SteppedWaits:
    """The Wait states parked in this process; `skip` moves the emulated clocks when one is released."""

    def __init__(self, skip: Callable[[float], None]) -> None:
        self._skip = skip
        self._lock = threading.Lock()
        self._holds: dict[int, Hold] = {}
        self._numbers = itertools.count()

    def hold(self, execution_arn: str, seconds: float, running: Callable[[], bool]) -> None:
        """Park the calling Wait state until a test releases it or its execution stops running."""
        with self._lock:
            parked = Hold(execution_arn, seconds, next(self._numbers))
            self._holds[parked.number] = parked
        try:
            while not parked.released.wait(_STOP_POLL_SECONDS):
                if not running():
                    return
        finally:
            with self._lock:
                self._holds.pop(parked.number, None)

    def parked(self, execution_arn: str) -> Hold | None:
        """The execution's Wait, if it is parked in one now."""
        with self._lock:
            return next((h for h in self._holds.values() if h.execution_arn == execution_arn), None)

    def release(self, parked: Hold) -> bool:
        """End that Wait (once): its time has passed. False when it had already ended."""
        with self._lock:
            if self._holds.pop(parked.number, None) is None:
                return False
        self._skip(parked.seconds)
        parked.released.set()
        return True

    def step(self, execution_arn: str) -> bool:
        """End the execution's parked Wait, if any; whether there was one."""
        parked = self.parked(execution_arn)
        return parked is not None and self.release(parked)

    def release_all(self) -> None:
        """Let every parked Wait go (its stack is stopping): no thread stays parked behind it."""
        with self._lock:
            holds = list(self._holds.values())
            self._holds.clear()
        for parked in holds:
            parked.released.set()
