"""IAM's API throttling, modelled: token buckets per class of call, answering `Throttling` when empty.

AWS (Knowledge Center "iam-sts-throttling-error"): API calls from the console, the CLI and applications all
"contribute to a maximum rate" for the account, and a caller over it gets "Throttling: Rate exceeded, status
code: 400"; the rates cannot be raised. AWS Security Blog, "How to monitor and query IAM resources at scale,
part 2" (also quoted by AWS Support in hashicorp/terraform-provider-aws#44853): IAM "implement[s] a token
bucket algorithm for throttling, in which a bucket of virtual tokens is refilled every second. Each token
represents a non-throttled API call ... The number of tokens that a bucket holds and the refill rate depends
on the API." No rate is published, so both are settings here, and moto never throttles.

`serve --iam-throttle SPEC` (LocalStack(iam_throttle=SPEC)) gives the stack's account two buckets:

- mutating calls (Create*, Delete*, Attach*, Detach*, Put*, Tag*, Untag*, Update* and every other IAM action
  that is not a read) and reads (Get*, List*) draw from separate buckets, so a storm of writes does not
  starve the reads that clean up after it, nor the reverse;
- `SPEC` is `RATE[,BURST]` for both buckets (each its own), or `mutating=RATE[,BURST];read=RATE[,BURST]`
  (a class left out is not throttled). RATE is tokens per second, BURST the bucket's size (default: RATE,
  one second's worth). A bucket starts full and refills continuously at RATE: the same average as a refill
  every second, without making every caller's second line up;
- every request to the stack's IAM counts, whoever signs it (the functions, admin clients, the AWS CLI):
  AWS throttles per account. Off by default.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from provisioner_local.moto_targets import IAM_CALL_ACTION, PatchSet

MUTATING: Final = "mutating"
READ: Final = "read"
READ_PREFIXES: Final = ("Get", "List")
# botocore's header on every attempt of a call in standard and adaptive modes: "attempt=2; max=4".
_ATTEMPT = re.compile(r"attempt=(\d+)")


def api_class(action: str) -> str:
    return READ if action.startswith(READ_PREFIXES) else MUTATING


@dataclass
class TokenBucket:
    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _updated: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._updated = self.clock()

    def take(self) -> bool:
        """One token if there is one; the caller holds the throttle's lock."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass(frozen=True)
class BucketSpec:
    rate: float
    burst: float

    def describe(self) -> str:
        return f"{self.rate:g}/s, burst {self.burst:g}"


def _bucket_spec(text: str, spec: str) -> BucketSpec:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > 2:
        raise ValueError(f"{spec!r}: RATE[,BURST] takes at most two numbers")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"{spec!r}: RATE and BURST are numbers (calls per second, calls)") from None
    rate = numbers[0]
    burst = numbers[1] if len(numbers) == 2 else max(rate, 1.0)
    if not (math.isfinite(rate) and math.isfinite(burst)) or rate <= 0 or burst < 1:
        raise ValueError(f"{spec!r}: needs RATE > 0 and BURST >= 1")
    return BucketSpec(rate, burst)


def parse_throttle(spec: str) -> dict[str, BucketSpec]:
    """`5`, `5,10` or `mutating=5,10;read=20,40`: the bucket of each class throttled; else ValueError."""
    text = spec.strip()
    if not text:
        raise ValueError(f"{spec!r}: RATE[,BURST] or mutating=RATE[,BURST];read=RATE[,BURST]")
    if "=" not in text:
        bucket = _bucket_spec(text, spec)
        return {MUTATING: bucket, READ: bucket}
    buckets: dict[str, BucketSpec] = {}
    for part in text.split(";"):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in (MUTATING, READ) or name in buckets:
            raise ValueError(f"{spec!r}: {name!r} is not mutating= or read= (each at most once)")
        buckets[name] = _bucket_spec(value, spec)
    return buckets


class IamThrottle:
    """The account's IAM buckets, and what they answered: per action, calls admitted and throttled."""

    def __init__(self, buckets: dict[str, BucketSpec], clock: Callable[[], float] = time.monotonic) -> None:
        self.specs = dict(buckets)
        self._buckets = {name: TokenBucket(s.rate, s.burst, clock) for name, s in buckets.items()}
        self._lock = threading.Lock()
        self.admitted: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        # Requests that were an SDK's second or later attempt of a call (botocore's amz-sdk-request).
        self.sdk_retries: Counter[str] = Counter()

    @classmethod
    def from_spec(cls, spec: str) -> IamThrottle:
        return cls(parse_throttle(spec))

    def describe(self) -> str:
        return "; ".join(f"{name} {spec.describe()}" for name, spec in self.specs.items())

    def admit(self, action: str, attempt: int = 1) -> bool:
        """Whether IAM serves this request now; False means it answers Throttling."""
        with self._lock:
            if attempt > 1:
                self.sdk_retries[action] += 1
            bucket = self._buckets.get(api_class(action))
            if bucket is None or bucket.take():
                self.admitted[action] += 1
                return True
            self.throttled[action] += 1
            return False

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "admitted": dict(self.admitted),
                "throttled": dict(self.throttled),
                "sdk_retries": dict(self.sdk_retries),
            }


def sdk_attempt(headers: Any) -> int:
    match = _ATTEMPT.search(str(headers.get("amz-sdk-request") or ""))
    return int(match.group(1)) if match else 1


def throttling_answer() -> tuple[int, dict[str, str], str]:
    """IAM's own answer: a Sender fault, 400, in its query protocol's XML (not a shape of IAM's model, so
    moto's serializer would warn and guess)."""
    request_id = str(uuid.uuid4())
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return 400, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body


def install(patches: PatchSet, throttle_for: Callable[[str], IamThrottle | None]) -> None:
    """moto's IAM asks `throttle_for(Host header)` before every action; None: not throttled."""

    original_call_action = IAM_CALL_ACTION.original()

    def call_action(response: Any) -> Any:
        throttle = throttle_for(str(response.headers.get("Host") or ""))
        if throttle is not None and not throttle.admit(response._get_action(), sdk_attempt(response.headers)):
            return throttling_answer()
        return original_call_action(response)

    patches.set(IAM_CALL_ACTION, call_action)
