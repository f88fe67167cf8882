"""uvicorn's WebSocket protocol, plus one rule: a client that accepts no bytes for
``WS_STALL_SECONDS`` while the server has bytes for it is cut off.

Every way uvicorn ends a connection (the app's ``websocket.close``, its keepalive timeout)
calls ``transport.close()``, which waits for the write buffer to drain; a client that stopped
reading never drains it, so its socket, its seat in the room and its presence would linger
until the client read again or its host went away. The ASGI app cannot reach the transport,
so the rule lives here. The transport pauses writing as soon as the kernel leaves any bytes
unsent (write buffer high-water mark 0: the kernel's socket buffer is buffer enough, and the
app's own queue holds the rest under its bound); while paused, the write buffer is checked
every ``WS_STALL_SECONDS``, and if nothing of it was sent since the last look, the
connection is aborted. A slow client that keeps reading (a big document over a slow link)
keeps making progress and is left alone. uvicorn then reports the disconnect to the app as
for any lost connection.

At shutdown (SIGTERM), uvicorn sends its 1012 close frame and closes the TCP connection at
once. A client still typing then has bytes unread in the server's receive buffer, so the
kernel answers with a reset, and the reset makes the client's kernel drop the close frame it
had not read yet: the client sees 1006 (abnormal closure) instead of 1012 (service restart).
Here the server waits for the client's close reply, as for a close the app sends, for at
most ``shutdown_close_seconds``.

Once the handshake is done, the connection offers the app a ``FrameWriter``
(``scope["extensions"]["tandem.frames"]["open"]``, see ``direct_frames``): binary frames
written straight to the transport, queued while it is paused and flushed on resume, with
no task and no ASGI message per frame. It offers the way in too
(``["tandem.frames"]["receive"]``): once the app names a receiver, each binary message is
handed to it as it is parsed, in ``data_received``. Through ASGI each message was a dict in
the queue, a wake-up of the app's task, and reading paused and resumed around it (uvicorn
pauses after every message until the app takes it). From the bytes' arrival to the room
took 0.16-0.19 ms at p50 in the bench's 10-document fan-out that way, 0.10-0.12 ms handed
over here; at 100 documents p99 1.84 -> 0.10 ms (docs/performance.md). A text message, and
any message while earlier ones still wait in the ASGI queue, goes through the queue, so
the app sees every message in the order it came. Neither is offered with
permessage-deflate, whose frames websockets must compress.

An idle connection is kept small: its receive queue and back-pressure flag are
``lean_primitives`` (nothing allocated until used), and the handshake's request and response,
which hold every header twice over, are let go once the app accepted.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, cast

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from backend.collab.edge.direct_frames import EXTENSION, FrameWriter
from backend.collab.edge.lean_primitives import Flag, MessageQueue

logger = logging.getLogger(__name__)


class StallAbortingProtocol(WebSocketsSansIOProtocol):
    stall_seconds = float(os.environ.get("WS_STALL_SECONDS", "30"))
    shutdown_close_seconds = 3.0
    _stall_timer: asyncio.TimerHandle | None = None
    _frame_writer: FrameWriter | None = None
    _frame_receiver: Callable[[bytes], None] | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = MessageQueue[ASGIReceiveEvent]()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Read only by the handshake. websockets' parser keeps the request in a local for
            # the life of the connection: empty it of its headers and its path (the token).
            request = self.request
            del self.request, self.response
            request.headers.clear()
            request.path = ""

    def shutdown(self) -> None:
        """Close with 1012 and keep reading until the client's close reply (see above)."""
        if not self.handshake_complete or self.close_sent or self.transport.is_closing():
            super().shutdown()
            return
        self.stop_keepalive()
        self._send_close(1012, "", self.shutdown_close_seconds)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101 and not self.conn.extensions:
            self.scope["extensions"][EXTENSION] = {
                "open": self.open_frame_writer,
                "receive": self.receive_frames_with,
            }

    def open_frame_writer(self, *, max_bytes: int) -> FrameWriter:
        """This connection's direct frame writer; call it once the app accepted."""
        if not self.handshake_complete:
            raise RuntimeError("open the frame writer after accepting the WebSocket")
        self._frame_writer = FrameWriter(self, max_bytes=max_bytes)
        return self._frame_writer

    def receive_frames_with(self, receiver: Callable[[bytes], None]) -> None:
        """Hand this connection's binary messages to ``receiver`` from now on, instead of
        queueing them as ASGI ``websocket.receive`` messages (see above). ``receiver`` runs
        in ``data_received``: it must not block; if it raises, the connection closes with
        1011 and the app hears ``websocket.disconnect``."""
        if not self.handshake_complete:
            raise RuntimeError("name the frame receiver after accepting the WebSocket")
        self._frame_receiver = receiver

    def send_receive_event_to_app(self) -> None:
        receiver = self._frame_receiver
        if (
            receiver is None
            or self.curr_msg_data_type != "bytes"
            or self.close_sent
            or not self.queue.empty()
        ):
            super().send_receive_event_to_app()
            return
        frames, self.frames = self.frames, []
        try:
            receiver(frames[0] if len(frames) == 1 else b"".join(frames))
        except Exception:
            logger.exception("the app failed on a WebSocket message; closing with 1011")
            self.send_close_now(1011, "")

    def writing_paused(self) -> bool:
        return not self.writable.is_set()

    def send_close_now(self, code: int, reason: str) -> None:
        """The app's ``websocket.close``, at once: the frame joins the transport's buffer."""
        if self.close_sent or self.transport.is_closing():
            return
        self._send_close(code, reason, self.close_timeout)

    def _send_close(self, code: int, reason: str, wait_for_reply: float) -> None:
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            return  # the client's close arrived first and was answered
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(wait_for_reply, self.transport.close)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        cast(asyncio.WriteTransport, transport).set_write_buffer_limits(high=0)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._watch(self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_stall_timer()
        if self._frame_writer is not None:
            self._frame_writer.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_stall_timer()
        super().connection_lost(exc)
        self._break_cycles()

    def _break_cycles(self) -> None:
        """Let reference counting free this connection once the app lets go of it.

        A closed connection was held together by cycles: this protocol and its frame
        writer, the bound method it offers in ``scope``, and websockets' parser generator,
        whose frame holds the websockets protocol that holds it. Only a full collection
        freed them, 25 objects a connection, walking everything else too: after 10,000
        sockets closed, one such collection took 478 ms of the event loop."""
        self._frame_writer = None  # the writer still reaches this protocol; this side lets go
        self._frame_receiver = None  # the app's bound method, which holds the app
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(EXTENSION, None)
        self.conn.parser.close()  # no bytes come any more: the generator's frame lets go

    def _watch(self, unsent: int) -> None:
        self._stall_timer = self.loop.call_later(self.stall_seconds, self._check, unsent)

    def _check(self, unsent_before: int) -> None:
        unsent = self.transport.get_write_buffer_size()
        if 0 < unsent < unsent_before:
            self._watch(unsent)  # it is reading, slowly
            return
        self._stall_timer = None
        if unsent == 0:
            return
        logger.warning(
            "cutting off a WebSocket client that read nothing for %.0f s (WS_STALL_SECONDS)",
            self.stall_seconds,
        )
        self.transport.abort()

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
