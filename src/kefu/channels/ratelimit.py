"""Token-bucket rate limits per connection and per session."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second up to `burst`; one message costs one token."""

    __slots__ = ("_burst", "_clock", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic):
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class KeyedRateLimiter:
    """A bucket per key (session id); idle buckets are dropped so memory stays bounded."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._max = max_keys
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._prune()
            bucket = TokenBucket(self._rate, self._burst, clock=self._clock)
            self._buckets[key] = bucket
        return bucket.take()

    def _prune(self) -> None:
        # A bucket idle long enough to be full again carries no state worth keeping.
        full_after = self._burst / self._rate
        now = self._clock()
        self._buckets = {k: b for k, b in self._buckets.items() if now - b._last < full_after}
        if len(self._buckets) >= self._max:
            self._buckets.clear()
