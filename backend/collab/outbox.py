"""A connection's outgoing queue: the room never waits on a client's socket."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from backend.collab.close_codes import CloseCode

logger = logging.getLogger(__name__)


class Outbox:
    """Frames waiting for one socket, bounded in bytes; over the bound the socket is closed.

    ``put`` and ``close`` return at once. One task (``run``) writes the frames in order, so
    a slow or vanished client delays nobody else, and a failed send ends only this socket.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        *,
        max_bytes: int,
    ) -> None:
        self._send = send
        self._close = close
        self._max_bytes = max_bytes
        self._frames: deque[bytes] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._close_code: int | None = None

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def put(self, frame: bytes) -> None:
        if self._close_code is not None:
            return
        if self._queued + len(frame) > self._max_bytes:
            logger.info("closing a connection that fell %d bytes behind", self._queued)
            self.close(CloseCode.TOO_SLOW)
            return
        self._frames.append(frame)
        self._queued += len(frame)
        self._wakeup.set()

    def close(self, code: int) -> None:
        """Drop what is queued and close the socket with ``code``."""
        if self._close_code is None:
            self._close_code = code
            self._frames.clear()
            self._queued = 0
            self._wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._frames and self._close_code is None:
                    frame = self._frames.popleft()
                    self._queued -= len(frame)
                    await self._send(frame)
                if self._close_code is not None:
                    await self._close(self._close_code)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.info("a send failed; the client is gone", exc_info=True)
