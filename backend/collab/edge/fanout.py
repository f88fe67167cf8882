"""Cross-process fan-out over the Channels layer: one channel and one group join per room.

The layer is at-most-once: a lost message only delays an update until the room's periodic
log check (or the next update's sequence number) reveals the gap and the room fetches the
missing rows from the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypedDict

from channels.layers import BaseChannelLayer

from backend.collab.edge import access_events, metrics

logger = logging.getLogger(__name__)

# Larger updates cross replicas as a head hint: the others read them from PostgreSQL rather
# than through Redis, once per replica.
MAX_INLINE_UPDATE = 256 * 1024


class RoomUpdateMessage(TypedDict):
    """``room.update`` -> handled by rooms as ``remote_update``."""

    type: Literal["room.update"]
    document: str
    seq: int
    update: bytes | None  # None: too large to carry, read it from the log
    origin: str
    committed_at: float  # epoch seconds, for the delivery latency metric


def update_message(
    document_id: uuid.UUID, seq: int, update: bytes, *, origin: str
) -> RoomUpdateMessage:
    return {
        "type": "room.update",
        "document": str(document_id),
        "seq": seq,
        "update": update if len(update) <= MAX_INLINE_UPDATE else None,
        "origin": origin,
        "committed_at": time.time(),
    }


class RoomAwarenessMessage(TypedDict):
    """``room.awareness`` -> handled by rooms as ``remote_awareness``."""

    type: Literal["room.awareness"]
    document: str
    frame: bytes
    origin: str
    users: list[tuple[int, int | None]]  # the user owning each client id of the frame


def group_name(document_id: uuid.UUID) -> str:
    return f"tandem.doc.{document_id.hex}"


AccessChanged = Callable[[uuid.UUID | None, frozenset[int]], None]


async def receive_forever(
    layer: BaseChannelLayer, channel: str, dispatch: Callable[[dict[str, Any]], None]
) -> None:
    """Hand every message of ``channel`` to ``dispatch``. A failed receive is counted,
    logged and retried a second later; what it lost, the periodic checks repair."""
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.channel_layer_errors.inc()
            logger.exception("channel layer receive failed; retrying in 1 s")
            await asyncio.sleep(1)
            continue
        dispatch(message)


class LayerFanout:
    """Publishes in order from one sender task; dispatches received messages to rooms, and
    access changes (``access_events``) to ``on_access``."""

    def __init__(
        self,
        layer: BaseChannelLayer,
        find_room: Callable[[uuid.UUID], Any],
        *,
        on_access: AccessChanged | None = None,
        renew_seconds: float = 10.0,
    ) -> None:
        self.layer = layer
        self.find_room = find_room
        self.on_access = on_access
        self.renew_seconds = renew_seconds
        self.origin = uuid.uuid4().hex
        self.channel = ""
        self._outgoing: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="fanout sender"),
            asyncio.create_task(self._receive_loop(), name="fanout receiver"),
        ]
        if self.on_access is not None:
            await self._join_access_group()
            self._tasks.append(asyncio.create_task(self._renew_loop(), name="fanout renewal"))

    async def _join_access_group(self) -> None:
        try:
            await self.layer.group_add(access_events.ACCESS_GROUP, self.channel)
        except Exception:
            logger.exception("could not join the access group; the periodic check covers")

    async def _renew_loop(self) -> None:
        """Re-join the access group now and then: a restarted Redis forgets groups."""
        while True:
            await asyncio.sleep(self.renew_seconds)
            await self._join_access_group()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def publish_update(self, document_id: uuid.UUID, seq: int, update: bytes) -> None:
        message = update_message(document_id, seq, update, origin=self.origin)
        self._outgoing.put_nowait((group_name(document_id), dict(message)))

    def publish_awareness(
        self, document_id: uuid.UUID, frame: bytes, users: dict[int, int | None]
    ) -> None:
        message: RoomAwarenessMessage = {
            "type": "room.awareness",
            "document": str(document_id),
            "frame": frame,
            "origin": self.origin,
            "users": list(users.items()),
        }
        self._outgoing.put_nowait((group_name(document_id), dict(message)))

    async def subscribe(self, document_id: uuid.UUID) -> None:
        try:
            await self.layer.group_add(group_name(document_id), self.channel)
        except Exception:
            logger.exception("could not join the group of %s; the log check covers", document_id)

    async def unsubscribe(self, document_id: uuid.UUID) -> None:
        try:
            await self.layer.group_discard(group_name(document_id), self.channel)
        except Exception:
            logger.exception("could not leave the group of %s", document_id)

    def _access_changed(self, message: dict[str, Any]) -> None:
        parsed = access_events.parse(message)
        if parsed is not None and self.on_access is not None:
            self.on_access(*parsed)

    async def _send_loop(self) -> None:
        while True:
            group, message = await self._outgoing.get()
            try:
                await self.layer.group_send(group, message)
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.channel_layer_errors.inc()
                logger.exception("channel layer send failed; receivers repair from the log")

    async def _receive_loop(self) -> None:
        await receive_forever(self.layer, self.channel, self._dispatch)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("origin") == self.origin:
            return
        if message.get("type") == "access.changed":
            self._access_changed(message)
            return
        try:
            room = self.find_room(uuid.UUID(str(message["document"])))
        except (KeyError, ValueError):
            logger.warning("dropped a channel layer message without a valid document id")
            return
        if room is None:
            return
        if message.get("type") == "room.update":
            if "committed_at" in message:
                lag = time.time() - float(message["committed_at"])
                metrics.fanout_delivery_seconds.observe(max(0.0, lag))
            room.remote_update(int(message["seq"]), message.get("update"))
        elif message.get("type") == "room.awareness":
            users = {int(client): user for client, user in message.get("users") or ()}
            room.remote_awareness(
                bytes(message["frame"]), replica=str(message["origin"]), users=users
            )
