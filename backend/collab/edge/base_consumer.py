"""What Tandem's WebSocket consumers share: no channel of their own, no database cleanup
per frame or per disconnect, and admission after the handshake (accept, then admit or close
with a code)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer


class AdmittingConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    # One channel per process carries the layer's traffic (rooms' fan-out, the
    # notification hub); a connection needs none.
    channel_layer_alias = "tandem-connections-use-no-channel"
    channel_layer = None
    groups = ()  # shared: Channels' default gives every connection a list of its own

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Channels' consumer loop for a consumer with no channel: messages come from
        ``receive`` alone, so they are awaited in place. (Channels' ``await_many_dispatch``
        keeps a task per connection waiting on each source, for the life of the socket.)"""
        self.scope = scope
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, object]) -> None:
        """Channels' dispatch without its per-message ``aclose_old_connections()``: that call
        runs in the one database thread, so every incoming frame would queue behind the
        database work of the whole process. The handlers that touch the ORM go through
        ``in_db_thread``, which closes old connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' handler without its ``aclose_old_connections()``, for the reason above:
        each closing socket queued a hop to the database thread, and 10,000 closing at once
        kept as many waiting calls alive long enough to reach the oldest GC generation, whose
        collections then held the loop for seconds. (No groups to leave: ``groups`` is
        empty and there is no channel layer.)"""
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def connect(self) -> None:
        # Accept first: a close code sent before accepting reaches a browser as 1006.
        await self.accept()
        # The handshake middleware put a refusal there (a missing, bad or expired token).
        code = self.scope.get("auth_error")
        if code is None:
            code = await self._admit()
        if code is not None:
            await self.close(code)

    async def _admit(self) -> int | None:
        """Set an authenticated connection up, or return the close code that refuses it."""
        raise NotImplementedError
