"""When connections' tokens run out: one timer per second that has any, not one per socket.

A ``call_later`` handle per connection costs over half a KiB (the handle, its arguments and,
under uvloop, a libuv timer); connections whose tokens expire in the same second share one.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

from backend.collab.core.close_codes import CloseCode


class Closable(Protocol):
    def close(self, code: int, reason: str = "") -> None: ...


class Expiries:
    """Close each added connection with ``UNAUTHENTICATED`` once its token expired."""

    def __init__(self) -> None:
        self._due: dict[tuple[asyncio.AbstractEventLoop, int], set[Closable]] = {}

    def add(self, connection: Closable, expires_at: float) -> int:
        """Watch ``connection`` (a Unix time); the returned second is ``discard``'s key."""
        loop = asyncio.get_running_loop()
        second = math.ceil(expires_at)
        due = self._due.get((loop, second))
        if due is None:
            due = self._due[(loop, second)] = set()
            loop.call_later(max(0.0, second - time.time()), self._expire, (loop, second))
        due.add(connection)
        return second

    def discard(self, connection: Closable, second: int) -> None:
        due = self._due.get((asyncio.get_running_loop(), second))
        if due is not None:
            due.discard(connection)  # the set itself goes when its second comes

    def _expire(self, key: tuple[asyncio.AbstractEventLoop, int]) -> None:
        for connection in self._due.pop(key, ()):
            connection.close(CloseCode.UNAUTHENTICATED)
