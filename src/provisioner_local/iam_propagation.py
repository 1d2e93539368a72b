"""IAM's eventual consistency, modelled: a new access key, and a new policy attachment, take a while to work.

In AWS a new key is refused with InvalidAccessKeyId (S3) for some seconds, and a freshly attached policy
gives AccessDenied for a while (../shared/notes/aws-facts.md: 3-5 s, about 8 s, up to 15 s reported; "usually
less than a minute"). `serve --propagation-delay SPEC` makes the local stack do the same for requests signed
with issued keys:

- `SPEC` is a fixed number of seconds (`8`, `2.5`), or `lognormal:median=M,p95=P`: each key and each
  attachment draws its own delay from a log-normal distribution with that median and 95th percentile;
- the clock is the stack's emulated clock: real time plus every Retry or Wait the stack shortened (fast
  waits), so a 6 s delay costs a run the retries it would cost in AWS, not 6 s of real time.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Protocol

# The 95th percentile of the standard normal distribution.
_Z95 = NormalDist().inv_cdf(0.95)


class DelayModel(Protocol):
    def draw(self, rng: random.Random) -> float: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class FixedDelay:
    seconds: float

    def draw(self, rng: random.Random) -> float:
        return self.seconds

    def describe(self) -> str:
        return f"{self.seconds:g} s"


@dataclass(frozen=True)
class LogNormalDelay:
    median: float
    p95: float

    @property
    def sigma(self) -> float:
        return math.log(self.p95 / self.median) / _Z95

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def describe(self) -> str:
        return f"log-normal, median {self.median:g} s, p95 {self.p95:g} s"


def parse_delay(spec: str) -> DelayModel:
    """`8`, `2.5`, or `lognormal:median=6,p95=15`; ValueError with the reason otherwise."""
    text = spec.strip()
    if ":" not in text:
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError(f"{spec!r}: a number of seconds or lognormal:median=M,p95=P") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{spec!r}: the delay must be a finite number of seconds, 0 or more")
        return FixedDelay(seconds)
    kind, _, arguments = text.partition(":")
    if kind != "lognormal":
        raise ValueError(f"{spec!r}: unknown distribution {kind!r} (known: lognormal)")
    values: dict[str, float] = {}
    for part in arguments.split(","):
        name, _, value = part.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{spec!r}: {part!r} is not name=number") from None
    if set(values) != {"median", "p95"}:
        raise ValueError(f"{spec!r}: lognormal takes exactly median= and p95=")
    if not 0 < values["median"] < values["p95"] or not math.isfinite(values["p95"]):
        raise ValueError(f"{spec!r}: needs 0 < median < p95")
    return LogNormalDelay(values["median"], values["p95"])


class EmulatedClock:
    """Real monotonic time plus the waits the stack skipped: what a run's clock would read in AWS."""

    def __init__(self) -> None:
        self._skipped = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._skipped

    def skip(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._skipped += seconds

    @property
    def skipped(self) -> float:
        with self._lock:
            return self._skipped


@dataclass
class Propagation:
    """When each issued key and each user's attachment starts to work, on the emulated clock."""

    model: DelayModel
    clock: EmulatedClock = field(default_factory=EmulatedClock)
    rng: random.Random = field(default_factory=random.Random)
    _keys: dict[str, float] = field(default_factory=dict)
    _attachments: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # (what, delay drawn, when it takes effect on the emulated clock) of every key and attachment.
    drawn: list[tuple[str, float, float]] = field(default_factory=list)
    # Access key id -> the emulated time its first request got through every check (the benchmark's).
    accepted: dict[str, float] = field(default_factory=dict)

    def key_created(self, access_key_id: str) -> None:
        delay = self.model.draw(self.rng)
        with self._lock:
            self._keys[access_key_id] = self.clock.now() + delay
            self.drawn.append((f"key {access_key_id}", delay, self._keys[access_key_id]))

    def policy_attached(self, user_name: str, policy_arn: str) -> None:
        delay = self.model.draw(self.rng)
        with self._lock:
            effective = self._attachments[(user_name, policy_arn)] = self.clock.now() + delay
            self.drawn.append((f"attachment {user_name} {policy_arn}", delay, effective))

    def request_accepted(self, access_key_id: str) -> None:
        with self._lock:
            self.accepted.setdefault(access_key_id, self.clock.now())

    def key_pending(self, access_key_id: str) -> bool:
        with self._lock:
            effective = self._keys.get(access_key_id)
        return effective is not None and self.clock.now() < effective

    def pending_attachments(self, user_name: str) -> list[str]:
        """Policies attached to the user that IAM does not apply yet."""
        now = self.clock.now()
        with self._lock:
            return [arn for (user, arn), at in self._attachments.items() if user == user_name and now < at]
