"""Cross-process fan-out over the Channels layer: one channel and one group join per room.

A replica publishes a room's updates and awareness only while another replica has announced
interest in the document: a process serving a document alone sends nothing to Redis for it.
Interest is a ``room.interest`` message to the document's group, sent when a room opens and
renewed while it stays open; a replica hearing a new one answers with its own, so both sides
know of each other within a round trip. The announcement names the replica's channel: what
one tick of the sender has for a replica (updates and awareness of every document it listens
to) goes there as one ``room.batch`` message, in order, so the receiver pops one message per
tick rather than one per update.

The layer is at-most-once: a lost message only delays an update until the room's periodic
log check (or the next update's sequence number) reveals the gap and the room fetches the
missing rows from the database. The one race the interest adds (an update committed before
its publisher heard of the newcomer) is repaired the same way: the newcomer joins the group
before loading the log, and checks the log's head again when it hears the answer
(``on_peer``).
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
# One batch carries at most this many bytes of updates and frames (a few inline updates).
MAX_BATCH_BYTES = 1024 * 1024
# Sends made at once: a group send reads its members and publishes on the layer's pooled
# connections (100 at most; the layer waits for a free one, redis_layer.py); a send to a
# replica's channel queues, in order, on the layer's one publishing connection.
CONCURRENT_SENDS = 8


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


class RoomInterestMessage(TypedDict):
    """``room.interest``: the origin has the document open (``ttl`` > 0) or closed it."""

    type: Literal["room.interest"]
    document: str
    origin: str
    channel: str  # where the origin receives this document's updates
    ttl: float  # seconds the interest holds unless renewed; 0 withdraws it
    reply: bool  # sent because the origin just heard of the receiver


class RoomBatchMessage(TypedDict):
    """``room.batch``: the updates and awareness for one replica, in publication order."""

    type: Literal["room.batch"]
    origin: str
    messages: list[dict[str, Any]]  # each with its ``document``


def group_name(document_id: uuid.UUID) -> str:
    return f"tandem.doc.{document_id.hex}"


# (to a group?, the group or channel, its messages in order)
_Outgoing = tuple[bool, str, list[dict[str, Any]]]
AccessChanged = Callable[[uuid.UUID | None, frozenset[int]], None]
PeerHeard = Callable[[uuid.UUID], None]


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


class Interest:
    """The other replicas known to have each document open (by origin: the channel to
    reach them on), until their interest expires."""

    def __init__(self) -> None:
        self._peers: dict[uuid.UUID, dict[str, tuple[float, str]]] = {}

    def channels(self, document_id: uuid.UUID) -> list[str]:
        """The channels of the replicas listening to ``document_id`` now."""
        peers = self._peers.get(document_id)
        if not peers:
            return []
        now = time.monotonic()
        for origin in [o for o, (until, _) in peers.items() if until <= now]:
            del peers[origin]
        return [channel for _, channel in peers.values()]

    def listening(self, document_id: uuid.UUID) -> bool:
        """Whether a replica listens to ``document_id`` now (on every published update:
        no list built, expired entries left to ``channels``)."""
        peers = self._peers.get(document_id)
        if not peers:
            return False
        now = time.monotonic()
        return any(until > now for until, _ in peers.values())

    def heard(self, document_id: uuid.UUID, origin: str, ttl: float, channel: str) -> bool:
        """Record an announcement; True if ``origin`` was not known to be listening."""
        peers = self._peers.setdefault(document_id, {})
        now = time.monotonic()
        known = peers.get(origin, (0.0, ""))[0] > now
        if ttl > 0:
            peers[origin] = (now + ttl, channel)
        else:
            peers.pop(origin, None)
        if not peers:
            del self._peers[document_id]
        return not known and ttl > 0

    def forget(self, document_id: uuid.UUID) -> None:
        self._peers.pop(document_id, None)


class LayerFanout:
    """Publishes in order from one sender task, to documents another replica listens to;
    dispatches received messages to rooms, and access changes (``access_events``) to
    ``on_access``. ``on_peer`` hears of a replica that just learned of this one's interest,
    after which its updates arrive here: the room re-reads the log's head then."""

    def __init__(
        self,
        layer: BaseChannelLayer,
        find_room: Callable[[uuid.UUID], Any],
        *,
        on_access: AccessChanged | None = None,
        on_peer: PeerHeard | None = None,
        renew_seconds: float = 10.0,
        interest_ttl: float = 10.0,
    ) -> None:
        self.layer = layer
        self.find_room = find_room
        self.on_access = on_access
        self.on_peer = on_peer
        self.renew_seconds = renew_seconds
        self.interest_ttl = interest_ttl
        self.origin = uuid.uuid4().hex
        self.channel = ""
        self.interest = Interest()
        self._subscribed: set[uuid.UUID] = set()
        self._outgoing: asyncio.Queue[tuple[uuid.UUID, dict[str, Any]]] = asyncio.Queue()
        # Announcements leave from a sender of their own: the periodic check renews every
        # open document's at once, and updates never wait behind that burst.
        self._announcements: asyncio.Queue[tuple[uuid.UUID, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        self._tasks = [
            asyncio.create_task(self._send_loop(self._outgoing), name="fanout sender"),
            asyncio.create_task(self._send_loop(self._announcements), name="fanout announcer"),
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
        if not self._tasks:
            return
        # A receive blocked in Redis (BZMPOP) can absorb the first cancellation; a second
        # one ends it.
        _, pending = await asyncio.wait(self._tasks, timeout=1)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def publish_update(self, document_id: uuid.UUID, seq: int, update: bytes) -> None:
        if self.interest.listening(document_id):
            message = update_message(document_id, seq, update, origin=self.origin)
            self._outgoing.put_nowait((document_id, dict(message)))

    def publish_awareness(
        self, document_id: uuid.UUID, frame: bytes, users: dict[int, int | None]
    ) -> None:
        if not self.interest.listening(document_id):
            return
        message: RoomAwarenessMessage = {
            "type": "room.awareness",
            "document": str(document_id),
            "frame": frame,
            "origin": self.origin,
            "users": list(users.items()),
        }
        self._outgoing.put_nowait((document_id, dict(message)))

    async def subscribe(self, document_id: uuid.UUID) -> None:
        """Join the document's group and announce (or renew) this replica's interest.
        Called when the room opens, before it loads the log, and on every periodic check."""
        self._subscribed.add(document_id)
        try:
            await self.layer.group_add(group_name(document_id), self.channel)
        except Exception:
            logger.exception("could not join the group of %s; the log check covers", document_id)
        self._announce(document_id, ttl=self.interest_ttl)

    async def unsubscribe(self, document_id: uuid.UUID) -> None:
        self._subscribed.discard(document_id)
        self.interest.forget(document_id)
        self._announce(document_id, ttl=0.0)
        try:
            await self.layer.group_discard(group_name(document_id), self.channel)
        except Exception:
            logger.exception("could not leave the group of %s", document_id)

    def _announce(self, document_id: uuid.UUID, *, ttl: float, reply: bool = False) -> None:
        message: RoomInterestMessage = {
            "type": "room.interest",
            "document": str(document_id),
            "origin": self.origin,
            "channel": self.channel,
            "ttl": ttl,
            "reply": reply,
        }
        self._announcements.put_nowait((document_id, dict(message)))

    def _interest_heard(self, document_id: uuid.UUID, message: dict[str, Any]) -> None:
        if document_id not in self._subscribed:
            return  # a late message to a group this replica left
        new = self.interest.heard(
            document_id, str(message["origin"]), float(message["ttl"]), str(message["channel"])
        )
        if new:
            self._announce(document_id, ttl=self.interest_ttl, reply=True)
        if (new or message.get("reply")) and self.on_peer is not None:
            self.on_peer(document_id)

    def _access_changed(self, message: dict[str, Any]) -> None:
        parsed = access_events.parse(message)
        if parsed is not None and self.on_access is not None:
            self.on_access(*parsed)

    async def _send_loop(self, queue: asyncio.Queue[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        while True:
            outgoing = self._addressed([await queue.get(), *_drain(queue)])
            for start in range(0, len(outgoing), CONCURRENT_SENDS):
                await asyncio.gather(*(self._send(*o) for o in outgoing[start:][:CONCURRENT_SENDS]))

    def _addressed(self, items: list[tuple[uuid.UUID, dict[str, Any]]]) -> list[_Outgoing]:
        """Announcements to their document's group; everything else to the channel of each
        replica listening, as one batch per replica (several when large), in order."""
        announcements: list[_Outgoing] = []
        by_channel: dict[str, list[dict[str, Any]]] = {}
        for document_id, message in items:
            if message["type"] == "room.interest":
                announcements.append((True, group_name(document_id), [message]))
                continue
            for channel in self.interest.channels(document_id):
                by_channel.setdefault(channel, []).append(message)
        return announcements + [
            (False, channel, [self._batch(chunk) for chunk in _chunked(messages)])
            for channel, messages in by_channel.items()
        ]

    def _batch(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        if len(messages) == 1:
            return messages[0]
        batch: RoomBatchMessage = {
            "type": "room.batch",
            "origin": self.origin,
            "messages": messages,
        }
        return dict(batch)

    async def _send(self, to_group: bool, target: str, messages: list[dict[str, Any]]) -> None:
        """One target's messages, in order; targets are sent to concurrently."""
        for message in messages:
            try:
                if to_group:
                    await self.layer.group_send(target, message)
                else:
                    await self.layer.send(target, message)
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
        kind = message.get("type")
        if kind == "access.changed":
            self._access_changed(message)
        elif kind == "room.batch":
            for inner in message.get("messages") or ():
                self._dispatch_one(inner)
        else:
            self._dispatch_one(message)

    def _dispatch_one(self, message: dict[str, Any]) -> None:
        try:
            document_id = uuid.UUID(str(message["document"]))
        except (KeyError, ValueError):
            logger.warning("dropped a channel layer message without a valid document id")
            return
        kind = message.get("type")
        if kind == "room.interest":
            self._interest_heard(document_id, message)
            return
        room = self.find_room(document_id)
        if room is None:
            return
        if kind == "room.update":
            if "committed_at" in message:
                lag = time.time() - float(message["committed_at"])
                metrics.fanout_delivery_seconds.observe(max(0.0, lag))
            room.remote_update(int(message["seq"]), message.get("update"))
        elif kind == "room.awareness":
            users = {int(client): user for client, user in message.get("users") or ()}
            room.remote_awareness(
                bytes(message["frame"]), replica=str(message["origin"]), users=users
            )


def _drain(queue: asyncio.Queue[tuple[uuid.UUID, dict[str, Any]]]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _chunked(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``messages`` in order, cut where a batch would outgrow MAX_BATCH_BYTES."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for message in messages:
        length = len(message.get("update") or b"") + len(message.get("frame") or b"")
        if chunks[-1] and size + length > MAX_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(message)
        size += length
    return chunks
