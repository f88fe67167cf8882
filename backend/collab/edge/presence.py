"""Who is in each document, across replicas: Redis when configured, this process otherwise.

Each replica registers its connections in a sorted set per document, scored by the time of
its last heartbeat (every ``PRESENCE_HEARTBEAT_SECONDS``). Entries older than
``PRESENCE_TTL_SECONDS`` are ignored and swept, so a replica that dies without cleaning up
vanishes from presence within seconds. Presence is best effort: a Redis error is logged
and never stops editing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from django.conf import settings

logger = logging.getLogger(__name__)

FLUSH_EVERY = 0.05
"""Seconds between presence writes while sockets come and go: a storm's joins and leaves
go out in a few writes, not one per turn of the event loop."""

# Per key (a document's presence set): score its members with the time, sweep the entries
# older than the TTL, and let the set expire if no replica renews it.
# ARGV: now, the oldest score kept, the expiry in seconds; then per key its member count
# and its members.
_WRITE = """
local now, oldest, expiry = ARGV[1], ARGV[2], ARGV[3]
local at = 4
for _, key in ipairs(KEYS) do
  local last = at + tonumber(ARGV[at])
  local scored = {}
  for i = at + 1, last do
    scored[#scored + 1] = now
    scored[#scored + 1] = ARGV[i]
    if #scored == 2000 or i == last then
      redis.call('ZADD', key, unpack(scored))
      scored = {}
    end
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', oldest)
  redis.call('EXPIRE', key, expiry)
  at = last + 1
end
"""


@dataclass(frozen=True)
class PresenceEntry:
    username: str
    since: float
    replica: str


class LocalPresence:
    """The connections of this process: the whole truth when there is no Redis."""

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self.members: dict[str, tuple[uuid.UUID, str]] = {}  # connection -> (document, member)

    def join(self, document_id: uuid.UUID, connection: str, username: str) -> str:
        member = json.dumps(
            {"u": username, "s": round(time.time(), 3), "r": self.replica, "c": connection},
            separators=(",", ":"),
        )
        self.members[connection] = (document_id, member)
        return member

    def leave(self, connection: str) -> tuple[uuid.UUID, str] | None:
        return self.members.pop(connection, None)

    def entries(self, document_id: uuid.UUID) -> list[PresenceEntry]:
        return [_entry(m) for d, m in self.members.values() if d == document_id]


class RedisPresence(LocalPresence):
    """Joins and leaves are queued and written by one flusher task, every ``FLUSH_EVERY``
    at most (one script call for the joins, one pipeline for the leaves): when thousands of
    sockets open or drop at once (a replica dies, a storm of reconnects), Redis sees a few
    calls instead of one per socket, and the client's connection pool is never exhausted."""

    def __init__(self, replica: str, *, url: str, prefix: str, ttl: float, heartbeat: float):
        super().__init__(replica)
        self.url, self.prefix, self.ttl, self.heartbeat = url, prefix, ttl, heartbeat
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, **settings.REDIS_CLIENT_OPTIONS
        )
        self._script = self.client.register_script(_WRITE)
        self._task: asyncio.Task[None] | None = None
        self._adds: dict[str, uuid.UUID] = {}  # member -> document, not yet written
        self._removals: list[tuple[uuid.UUID, str]] = []
        self._flusher: asyncio.Task[None] | None = None

    def key(self, document_id: uuid.UUID) -> str:
        return presence_key(self.prefix, document_id)

    def join(self, document_id: uuid.UUID, connection: str, username: str) -> str:
        member = super().join(document_id, connection, username)
        self._adds[member] = document_id
        self._flush_soon()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._beat(), name="presence heartbeat")
        return member

    def leave(self, connection: str) -> tuple[uuid.UUID, str] | None:
        left = super().leave(connection)
        if left is not None:
            self._adds.pop(left[1], None)
            self._removals.append(left)  # a heartbeat may have written it meanwhile
            self._flush_soon()
        return left

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._flusher is not None:
            await asyncio.wait({self._flusher})
        self._removals += list(self.members.values())
        self._adds.clear()
        self.members.clear()
        await self._flush(wait=0)
        await self.client.aclose()

    def _flush_soon(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="presence flush")

    async def _flush(self, *, wait: float = FLUSH_EVERY) -> None:
        while self._adds or self._removals:
            await asyncio.sleep(wait)  # gathers the joins and leaves of the next moments
            adds, self._adds = self._adds, {}
            removals, self._removals = self._removals, []
            if adds:
                await self._write(adds)
            if removals:
                await self._remove(removals)

    async def _beat(self) -> None:
        while self.members:
            await self._write({m: d for d, m in self.members.values()})
            await asyncio.sleep(self.heartbeat)

    async def _write(self, members: dict[str, uuid.UUID]) -> None:
        now = time.time()
        by_document: dict[uuid.UUID, list[str]] = {}
        for member, document_id in members.items():
            by_document.setdefault(document_id, []).append(member)
        keys: list[str] = []
        args: list[str | float | int] = [now, now - self.ttl, int(self.ttl * 4) + 1]
        for document_id, written in by_document.items():
            keys.append(self.key(document_id))
            args += [len(written), *written]
        try:
            # One command however many documents: a heartbeat of 10,000 sockets over 100
            # documents was 300 commands and as many replies to parse, in a pipeline.
            await self._script(keys=keys, args=args)
        except redis.RedisError:
            logger.warning("presence heartbeat failed; retrying", exc_info=True)

    async def _remove(self, removals: list[tuple[uuid.UUID, str]]) -> None:
        try:
            by_document: dict[uuid.UUID, list[str]] = {}
            for document_id, member in removals:
                by_document.setdefault(document_id, []).append(member)
            async with self.client.pipeline(transaction=False) as pipe:
                for document_id, gone in by_document.items():
                    pipe.zrem(self.key(document_id), *gone)
                await pipe.execute()
        except redis.RedisError:
            logger.warning("presence removal failed; the entries expire", exc_info=True)


def presence_key(prefix: str, document_id: uuid.UUID) -> str:
    return f"{prefix}:presence:{document_id.hex}"


def read_presence(
    *, url: str, prefix: str, ttl: float, document_id: uuid.UUID
) -> list[PresenceEntry]:
    """Live entries of a document, read synchronously (for the REST API)."""
    client = redis.Redis.from_url(
        url, socket_timeout=2, socket_connect_timeout=2, **settings.REDIS_CLIENT_OPTIONS
    )
    try:
        members = client.zrangebyscore(presence_key(prefix, document_id), time.time() - ttl, "+inf")
    finally:
        client.close()
    return [_entry(m.decode() if isinstance(m, bytes) else str(m)) for m in members]


def _entry(member: str) -> PresenceEntry:
    data = json.loads(member)
    return PresenceEntry(username=data["u"], since=float(data["s"]), replica=data["r"])
