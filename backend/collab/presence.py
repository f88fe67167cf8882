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
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

logger = logging.getLogger(__name__)


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
    def __init__(self, replica: str, *, url: str, prefix: str, ttl: float, heartbeat: float):
        super().__init__(replica)
        self.url, self.prefix, self.ttl, self.heartbeat = url, prefix, ttl, heartbeat
        self.client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._task: asyncio.Task[None] | None = None

    def key(self, document_id: uuid.UUID) -> str:
        return presence_key(self.prefix, document_id)

    def join(self, document_id: uuid.UUID, connection: str, username: str) -> str:
        member = super().join(document_id, connection, username)
        self._spawn(self._write({member: document_id}))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._beat(), name="presence heartbeat")
        return member

    def leave(self, connection: str) -> tuple[uuid.UUID, str] | None:
        left = super().leave(connection)
        if left is not None:
            self._spawn(self._remove(*left))
        return left

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for document_id, member in list(self.members.values()):
            await self._remove(document_id, member)
        self.members.clear()
        await self.client.aclose()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    async def _beat(self) -> None:
        while self.members:
            await self._write({m: d for d, m in self.members.values()})
            await asyncio.sleep(self.heartbeat)

    async def _write(self, members: dict[str, uuid.UUID]) -> None:
        now = time.time()
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for member, document_id in members.items():
                    key = self.key(document_id)
                    pipe.zadd(key, {member: now})
                    pipe.zremrangebyscore(key, "-inf", now - self.ttl)
                    pipe.expire(key, int(self.ttl * 4) + 1)
                await pipe.execute()
        except redis.RedisError:
            logger.warning("presence heartbeat failed; retrying", exc_info=True)

    async def _remove(self, document_id: uuid.UUID, member: str) -> None:
        try:
            await self.client.zrem(self.key(document_id), member)
        except redis.RedisError:
            logger.warning("presence removal failed; the entry expires", exc_info=True)


_pending: set[asyncio.Future[None]] = set()


def presence_key(prefix: str, document_id: uuid.UUID) -> str:
    return f"{prefix}:presence:{document_id.hex}"


def read_presence(
    *, url: str, prefix: str, ttl: float, document_id: uuid.UUID
) -> list[PresenceEntry]:
    """Live entries of a document, read synchronously (for the REST API)."""
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        members = client.zrangebyscore(presence_key(prefix, document_id), time.time() - ttl, "+inf")
    finally:
        client.close()
    return [_entry(m.decode() if isinstance(m, bytes) else str(m)) for m in members]


def _entry(member: str) -> PresenceEntry:
    data = json.loads(member)
    return PresenceEntry(username=data["u"], since=float(data["s"]), replica=data["r"])
