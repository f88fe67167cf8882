"""Per-connection and per-user bounds on WebSocket traffic."""

from __future__ import annotations

import time
from collections import Counter


class RateLimiter:
    """A token bucket: ``rate`` messages per second on average, bursts up to ``2 * rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ConnectionCounter:
    """Open connections per user in this process."""

    def __init__(self) -> None:
        self._open: Counter[int] = Counter()

    def try_open(self, user_id: int, limit: int) -> bool:
        if self._open[user_id] >= limit:
            return False
        self._open[user_id] += 1
        return True

    def close(self, user_id: int) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]
