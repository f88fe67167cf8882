"""Presence in Redis: many connections of a document written and removed together."""

from __future__ import annotations

import uuid

import redis
from django.conf import settings

from backend.collab.edge.presence import RedisPresence, presence_key, read_presence
from tests.support.waiting import wait_until_async


async def test_joins_and_leaves_of_many_connections_reach_redis() -> None:
    prefix = f"{settings.REDIS_PREFIX}-presence-{uuid.uuid4().hex[:8]}"
    presence = RedisPresence("r1", url=settings.REDIS_URL, prefix=prefix, ttl=15, heartbeat=5)
    first, second = uuid.uuid4(), uuid.uuid4()
    for n in range(30):
        presence.join(first if n % 3 else second, f"c{n}", f"user{n}")

    def read(document: uuid.UUID) -> list[str]:
        entries = read_presence(url=settings.REDIS_URL, prefix=prefix, ttl=15, document_id=document)
        return sorted(e.username for e in entries)

    try:
        await wait_until_async(
            lambda: len(read(first)) == 20 and len(read(second)) == 10, what="the joins"
        )
        for n in range(0, 30, 2):
            presence.leave(f"c{n}")
        await wait_until_async(lambda: len(read(first)) == 10, what="the leaves")
        assert read(first) == sorted(f"user{n}" for n in range(30) if n % 3 and n % 2)
        assert read(second) == sorted(f"user{n}" for n in range(30) if not n % 3 and n % 2)
    finally:
        await presence.close()
        client = redis.Redis.from_url(settings.REDIS_URL)
        assert client.exists(presence_key(prefix, first), presence_key(prefix, second)) == 0
        client.close()


async def test_a_write_sweeps_entries_past_the_ttl_and_the_set_expires() -> None:
    prefix = f"{settings.REDIS_PREFIX}-presence-{uuid.uuid4().hex[:8]}"
    presence = RedisPresence("r2", url=settings.REDIS_URL, prefix=prefix, ttl=15, heartbeat=5)
    document = uuid.uuid4()
    key = presence_key(prefix, document)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.zadd(key, {'{"u":"gone","s":0,"r":"dead","c":"x"}': 1.0})  # a replica died long ago
    try:
        presence.join(document, "c1", "ada")
        members = await wait_until_async(
            lambda: [m for m in client.zrange(key, 0, -1) if b'"u":"ada"' in m],
            what="the join written",
        )
        assert client.zrange(key, 0, -1) == members  # the dead replica's entry swept
        assert 0 < client.ttl(key) <= 61
    finally:
        await presence.close()
        client.close()
