"""Binary frames written straight to a connection's transport: no task, no ASGI message.

Under uvicorn with ``StallAbortingProtocol`` the connection offers a ``FrameWriter`` in
``scope["extensions"]["tandem.frames"]``. It does what ``Outbox`` does for the plain ASGI
path, without a task per socket and without a trip through Channels, the ASGI ``send`` and
websockets' frame encoder: a frame is written at once (header and payload in one
``writelines``) while the transport accepts bytes; while the transport is paused (its
high-water mark is 0: the kernel's socket buffer is buffer enough) frames wait here, bounded
by ``max_bytes`` as in ``Outbox``, and go out in order on ``resume_writing``. Over the bound
the socket is closed with ``TOO_SLOW``. Nothing is written after a close frame went out or
after the transport started closing.
"""

from __future__ import annotations

import asyncio
import struct
from collections import deque
from typing import Protocol

from backend.collab.core.close_codes import CloseCode
from backend.collab.edge import metrics
from backend.collab.edge.outbox import falls_behind

EXTENSION = "tandem.frames"

# FIN set, opcode 2 (binary); server frames are not masked (RFC 6455, section 5.2).
_FIN_BINARY = 0x82
_SHORT_HEADERS = tuple(bytes((_FIN_BINARY, length)) for length in range(126))
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def binary_frame_header(length: int) -> bytes:
    """The header of an unmasked, final binary frame carrying ``length`` bytes."""
    if length < 126:
        return _SHORT_HEADERS[length]
    if length < 0x10000:
        return _MEDIUM.pack(_FIN_BINARY, 126, length)
    return _LONG.pack(_FIN_BINARY, 127, length)


class FrameConnection(Protocol):
    """What a ``FrameWriter`` needs of the connection it writes to."""

    transport: asyncio.Transport
    close_sent: bool

    def writing_paused(self) -> bool: ...

    def send_close_now(self, code: int, reason: str) -> None:
        """Send a close frame at once (unless one went out) and end the connection."""


class FrameWriter:
    """One connection's binary frames, written at once or queued while the transport is paused.

    ``put`` and ``close`` return at once, as ``Outbox``'s do; ``flush`` is called by the
    connection when its transport resumes writing.
    """

    __slots__ = ("_closed", "_connection", "_frames", "_max_bytes", "_queued")

    def __init__(self, connection: FrameConnection, *, max_bytes: int) -> None:
        self._connection = connection
        self._max_bytes = max_bytes
        self._frames: deque[bytes] | None = None  # only while the transport is paused
        self._queued = 0
        self._closed = False

    @property
    def queued_bytes(self) -> int:
        return self._queued

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame: bytes) -> None:
        if self._closed:
            return
        connection = self._connection
        if connection.close_sent or connection.transport.is_closing():
            self._drop()
            return
        if self._frames is None and not connection.writing_paused():
            self._write(frame)
            return
        if falls_behind(self._queued, frame, self._max_bytes):
            self.close(CloseCode.TOO_SLOW)
            return
        if self._frames is None:
            self._frames = deque()
        self._frames.append(frame)
        self._queued += len(frame)

    def flush(self) -> None:
        """Write what waits, in order, until the transport pauses again."""
        frames = self._frames
        if frames is None or self._closed:
            return
        connection = self._connection
        if connection.close_sent or connection.transport.is_closing():
            self._drop()
            return
        while frames and not connection.writing_paused():
            frame = frames.popleft()
            self._queued -= len(frame)
            self._write(frame)
        if not frames:
            self._frames = None

    def close(self, code: int, reason: str = "") -> None:
        """Drop what is queued and close the socket with ``code``."""
        if self._closed:
            return
        self._drop()
        self._connection.send_close_now(code, reason)

    def _drop(self) -> None:
        self._closed = True
        self._frames = None
        self._queued = 0

    def _write(self, frame: bytes) -> None:
        length = len(frame)
        self._connection.transport.writelines((binary_frame_header(length), frame))
        metrics.bytes_sent.inc(length)
