"""Per-caller rate limits: a token bucket per key (the token's user; the client address before sign-in).

In-process: each ``securecomm serve`` worker process keeps its own buckets, so the limit a caller
sees is per process (documented in docs/api.md). Over the limit -> 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """``rate`` requests per second sustained, bursts of ``burst``; ``rate`` <= 0 disables it."""

    def __init__(self, rate: float, burst: int, *, clock=time.monotonic, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self._clock, self._max = float(rate), int(burst), clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before the next one will."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max:  # forget the idle (their buckets are full anyway)
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / self.rate}
            return (1.0 - tokens) / self.rate


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
