"""``ws/notifications/?token=<jwt>&after=<n>``: the caller's notifications, live.

The server sends JSON text frames; it reads nothing from the client:

- ``{"type": "notification", "notification": {...}}``: one notification (the REST API's
  shape), in number order, each once. With ``after=<n>`` every one after ``n`` still in the
  inbox is replayed first.
- ``{"type": "ready", "head": <n>, "unread": <count>}``: after the replay (or at once,
  without ``after``): ``head`` is the number the client has now seen up to; reconnect
  with ``after=<head or the last id seen>`` to miss nothing.

Client frames are ignored (an application ping is fine), but count against
WS_MAX_MESSAGES_PER_SECOND. Close codes, as for documents (``collab.core.close_codes``):
4401 no, bad, expired or revoked token (also when the token expires while open, or within
a second of "log out everywhere" or of the account's deactivation), 4400
``after`` not a number, 4429 over NOTIFICATIONS_MAX_CONNECTIONS_PER_USER open notification
connections (WebSocket and SSE together) in this process or over the message rate, 4408 the
client fell WS_MAX_QUEUED_BYTES behind, 1013 the server could not read the inbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from backend.collab.core.close_codes import CloseCode
from backend.collab.edge.base_consumer import AdmittingConsumer
from backend.collab.edge.limits import ConnectionCounter, RateLimiter
from backend.collab.edge.outbox import Outbox
from backend.notifications.hub import Listener, NotificationHub, Opening, Payload, get_hub

logger = logging.getLogger(__name__)

# Open notification connections per user in this process, WebSocket and SSE alike.
connections = ConnectionCounter()


def parse_after(value: str | None) -> int | None:
    """``after`` as a number; ValueError when it is given but not a non-negative integer."""
    if value is None or value == "":
        return None
    number = int(value)
    if number < 0:
        raise ValueError("after must not be negative")
    return number


def notification_event(payload: Payload) -> dict[str, Any]:
    return {"type": "notification", "notification": payload}


def ready_event(opening: Opening) -> dict[str, Any]:
    return {"type": "ready", "head": opening.cursor, "unread": opening.unread}


class NotificationConsumer(AdmittingConsumer):
    hub: NotificationHub | None = None
    listener: Listener | None = None
    outbox: Outbox | None = None
    counted_user: int | None = None
    disconnected = False

    async def _admit(self) -> int | None:
        user_id = int(self.scope["user"].pk)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            after = parse_after((query.get("after") or [None])[0])
        except ValueError:
            return CloseCode.MALFORMED
        if not connections.try_open(user_id, settings.NOTIFICATIONS_MAX_CONNECTIONS_PER_USER):
            return CloseCode.TOO_MANY
        self.counted_user = user_id
        self.limiter = RateLimiter(settings.WS_MAX_MESSAGES_PER_SECOND)
        outbox = self.outbox = Outbox(
            self._send_frame, self.close, max_bytes=settings.WS_MAX_QUEUED_BYTES
        )
        self.outbox_task = asyncio.create_task(outbox.run())
        delay = max(0.0, float(self.scope["token_expires_at"]) - time.time())
        self.expiry = asyncio.get_running_loop().call_later(
            delay, outbox.close, CloseCode.UNAUTHENTICATED
        )
        listener = Listener(
            user_id,
            lambda payload: self._put(notification_event(payload)),
            token_generation=int(self.scope["token_generation"]),
            revoked=lambda: outbox.close(CloseCode.UNAUTHENTICATED),
        )
        try:
            hub = self.hub = await get_hub()
            self.listener = listener
            opening = await hub.open(listener, after=after)
        except Exception:
            logger.exception("could not open the notifications of user %s", user_id)
            return CloseCode.TRY_AGAIN_LATER
        if self.disconnected:
            hub.close(listener)
            return None
        for payload in opening.replay:
            self._put(notification_event(payload))
        self._put(ready_event(opening))
        hub.go_live(listener, opening.cursor)
        return None

    def _put(self, event: dict[str, Any]) -> None:
        if self.outbox is not None:
            self.outbox.put(json.dumps(event, separators=(",", ":")).encode())

    async def _send_frame(self, frame: bytes) -> None:
        await self.send(text_data=frame.decode())

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.outbox is not None and not self.limiter.allow():
            self.outbox.close(CloseCode.TOO_MANY)

    async def disconnect(self, code: int) -> None:
        self.disconnected = True
        if self.hub is not None and self.listener is not None:
            self.hub.close(self.listener)
        if self.outbox is not None:
            self.expiry.cancel()
            self.outbox.close(CloseCode.NORMAL)
            self.outbox_task.cancel()
        if self.counted_user is not None:
            connections.close(self.counted_user)
            self.counted_user = None
