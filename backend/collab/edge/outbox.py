"""A connection's outgoing queue: the room never waits on a client's socket."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from backend.collab.core.close_codes import CloseCode

logger = logging.getLogger(__name__)


def falls_behind(queued: int, frame: bytes, max_bytes: int) -> bool:
    """Whether queueing ``frame`` behind ``queued`` bytes passes ``max_bytes`` (logged): the
    socket is then closed with TOO_SLOW. One frame larger than the bound (a big paste) is
    taken when nothing else waits: it is the same bytes object in every connection's
    queue, not a copy."""
    if queued and queued + len(frame) > max_bytes:
        logger.info("closing a connection that fell %d bytes behind", queued)
        return True
    return False


class Outbox:
    """Frames waiting for one socket, bounded in bytes; over the bound the socket is closed.

    ``put`` and ``close`` return at once. One task (``run``) writes the frames in order, so
    a slow or vanished client delays nobody else, and a failed send ends only this socket.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
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
        self._close_reason = ""
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._closer: asyncio.Future[None] | None = None

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def put(self, frame: bytes) -> None:
        if self._close_code is not None:
            return
        if falls_behind(self._queued, frame, self._max_bytes):
            self.close(CloseCode.TOO_SLOW)
            return
        self._frames.append(frame)
        self._queued += len(frame)
        self._wakeup.set()

    def close(self, code: int, reason: str = "") -> None:
        """Drop what is queued and close the socket with ``code``.

        A send stuck on a client that stopped reading is abandoned: the close goes out from
        a task of its own, so a stalled socket holds neither memory nor the writer.
        """
        if self._close_code is not None:
            return
        self._close_code = code
        self._close_reason = reason
        self._frames.clear()
        self._queued = 0
        if self._sending and self._writer is not None:
            self._writer.cancel()
            self._closer = asyncio.ensure_future(self._close(code, reason))
        self._wakeup.set()

    async def run(self) -> None:
        self._writer = asyncio.current_task()
        try:
            while self._close_code is None:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._frames and self._close_code is None:
                    frame = self._frames.popleft()
                    self._queued -= len(frame)
                    self._sending = True
                    try:
                        await self._send(frame)
                    finally:
                        self._sending = False
            if self._closer is None:
                await self._close(self._close_code, self._close_reason)
        except asyncio.CancelledError:
            if self._closer is None:
                raise
        except Exception as exc:
            # Routine when a client vanishes (hundreds at once when a replica is overloaded):
            # one line each, the traceback only at debug level.
            logger.info("a send failed; the client is gone (%s)", exc or type(exc).__name__)
            logger.debug("the failed send", exc_info=True)
