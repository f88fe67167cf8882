"""The WebSocket consumer: a thin adapter between a socket and the document's room."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Protocol

from django.conf import settings

from backend.collab.core.close_codes import CloseCode, close_code_for
from backend.collab.core.room import Room
from backend.collab.edge import metrics
from backend.collab.edge.admission import document_admission
from backend.collab.edge.base_consumer import AdmittingConsumer
from backend.collab.edge.direct_frames import EXTENSION
from backend.collab.edge.expiries import Expiries
from backend.collab.edge.limits import ConnectionCounter, RateLimiter
from backend.collab.edge.outbox import Outbox
from backend.collab.edge.runtime import Runtime, get_runtime
from backend.documents.errors import TandemError
from backend.documents.models import Role

logger = logging.getLogger(__name__)

_connections = ConnectionCounter()
_expiries = Expiries()


class FrameSink(Protocol):
    """Where a connection's frames go: an ``Outbox`` or a direct ``FrameWriter``."""

    def put(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str = "") -> None: ...


class SocketPeer:
    """The room's view of one connection."""

    __slots__ = ("admitted_at", "can_write", "outbox", "token_generation", "user_id", "username")

    def __init__(
        self,
        outbox: FrameSink,
        *,
        user_id: int,
        username: str,
        can_write: bool,
        token_generation: int,
        admitted_at: float,
    ) -> None:
        self.outbox = outbox
        self.user_id: int | None = user_id
        self.username = username
        self.can_write = can_write
        self.token_generation = token_generation
        self.admitted_at = admitted_at

    def send(self, frame: bytes) -> None:
        self.outbox.put(frame)

    def close(self, code: int, reason: str = "") -> None:
        self.outbox.close(code, reason)


class DocumentConsumer(AdmittingConsumer):
    """``/ws/documents/<id>``: authenticate, check access, then relay frames to the room."""

    room: Room | None = None
    runtime: Runtime
    peer: SocketPeer | None = None
    outbox_task: asyncio.Task[None] | None = None
    user_id: int | None = None
    disconnected = False

    async def _admit(self) -> int | None:
        user = self.scope["user"]
        document_id = self.scope["url_route"]["kwargs"]["document_id"]
        # When the handshake's token check began: a logout committed after it is judged by
        # the next access re-check (a check skips connections admitted after it began).
        admitted_at = float(self.scope.get("auth_checked_at", time.monotonic()))
        try:
            document, role = await document_admission(user=user, document_id=document_id)
        except TandemError as error:
            return close_code_for(error)
        if not _connections.try_open(user.pk, settings.WS_MAX_CONNECTIONS_PER_USER):
            return CloseCode.TOO_MANY
        self.user_id = user.pk
        self.limiter = RateLimiter(settings.WS_MAX_MESSAGES_PER_SECOND)
        self.peer = SocketPeer(
            self._open_outbox(),
            user_id=user.pk,
            username=user.get_username(),
            can_write=role.allows(Role.EDITOR),
            token_generation=int(self.scope["token_generation"]),
            admitted_at=admitted_at,
        )
        self.expiry = _expiries.add(self.peer, float(self.scope["token_expires_at"]))
        try:
            runtime = self.runtime = await get_runtime()
            room = await runtime.registry.acquire(uuid.UUID(str(document.pk)))
        except TandemError as error:
            return close_code_for(error)
        except Exception:
            logger.exception("could not load document %s", document.pk)
            return CloseCode.TRY_AGAIN_LATER
        if self.disconnected:
            runtime.registry.release(room)
            return None
        self.room = room
        room.join(self.peer)
        metrics.connections_open.inc()
        runtime.presence.join(room.document_id, self.channel_name_key, user.get_username())
        direct = self.scope.get("extensions", {}).get(EXTENSION)
        if direct is not None:
            direct["receive"](self.receive_frame)  # binary messages skip ASGI from now on
        return None

    @property
    def channel_name_key(self) -> str:
        return f"{id(self):x}"

    def _open_outbox(self) -> FrameSink:
        """The server's direct frame writer where it offers one (uvicorn with
        ``StallAbortingProtocol``), else an ``Outbox`` and its task over ASGI ``send``."""
        max_bytes = settings.WS_MAX_QUEUED_BYTES
        direct = self.scope.get("extensions", {}).get(EXTENSION)
        if direct is not None:
            sink: FrameSink = direct["open"](max_bytes=max_bytes)
            return sink
        outbox = Outbox(self._send_frame, self.close, max_bytes=max_bytes)
        self.outbox_task = asyncio.create_task(outbox.run())
        return outbox

    async def _send_frame(self, frame: bytes) -> None:
        metrics.bytes_sent.inc(len(frame))
        await self.send(bytes_data=frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            self.receive_frame(bytes_data)
        elif self.room is not None and self.peer is not None:
            metrics.bytes_received.inc(len(text_data or ""))
            metrics.rejected("text_frame")
            self.peer.close(CloseCode.MALFORMED)

    def receive_frame(self, frame: bytes) -> None:
        """One binary message from the client: through ASGI, or straight from the server's
        protocol where it offers that (``StallAbortingProtocol``)."""
        if self.room is None or self.peer is None:
            return
        metrics.bytes_received.inc(len(frame))
        if len(frame) > settings.WS_MAX_MESSAGE_BYTES:
            metrics.rejected("too_big")
            self.peer.close(CloseCode.TOO_BIG)
        elif not self.limiter.allow():
            metrics.rejected("rate_limited")
            self.peer.close(CloseCode.TOO_MANY)
        else:
            self.room.receive(self.peer, frame)

    async def disconnect(self, code: int) -> None:
        self.disconnected = True
        if self.peer is None:
            return
        _expiries.discard(self.peer, self.expiry)
        self.peer.outbox.close(CloseCode.NORMAL)
        if self.outbox_task is not None:
            self.outbox_task.cancel()
        if self.user_id is not None:
            _connections.close(self.user_id)
        if self.room is not None:
            metrics.connections_open.dec()
            self.room.leave(self.peer)
            self.runtime.registry.release(self.room)
            self.runtime.presence.leave(self.channel_name_key)
