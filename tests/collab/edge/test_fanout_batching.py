"""What one tick of publishing leaves as: one ``room.batch`` per listening replica, in order,
between fan-outs on the Redis channel layer as configured (one layer per replica)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from backend.collab.edge.fanout import MAX_BATCH_BYTES, LayerFanout


class CountingLayer(RedisChannelLayer):
    """The real layer, counting the messages sent to each group and channel."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.sends: dict[str, int] = {}

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sends[group] = self.sends.get(group, 0) + 1
        await super().group_send(group, message)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.sends[channel] = self.sends.get(channel, 0) + 1
        await super().send(channel, message)


class Room:
    def __init__(self) -> None:
        self.updates: list[tuple[int, bytes | None]] = []

    def remote_update(self, seq: int, update: bytes | None) -> None:
        self.updates.append((seq, update))


async def _replica(document_id: uuid.UUID, room: Room) -> tuple[LayerFanout, CountingLayer]:
    assert settings.REDIS_URL, "this test needs the Redis channel layer"
    layer = CountingLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    fanout = LayerFanout(layer, lambda d: room if d == document_id else None)
    await fanout.start()
    await fanout.subscribe(document_id)
    return fanout, layer


@pytest.fixture
async def pair() -> AsyncIterator[tuple[uuid.UUID, LayerFanout, LayerFanout, CountingLayer, Room]]:
    document_id = uuid.uuid4()
    receiving = Room()
    one, layer = await _replica(document_id, Room())
    two, _ = await _replica(document_id, receiving)
    for _ in range(200):
        if one.interest.listening(document_id):
            break
        await asyncio.sleep(0.01)
    assert one.interest.listening(document_id), "the replicas never heard of each other"
    layer.sends.clear()
    yield document_id, one, two, layer, receiving
    for fanout in (one, two):
        await fanout.unsubscribe(document_id)
        await fanout.stop()


async def _received(room: Room, count: int) -> None:
    for _ in range(500):
        if len(room.updates) >= count:
            return
        await asyncio.sleep(0.01)


async def test_a_burst_crosses_as_one_message_in_order(pair: Any) -> None:
    document_id, one, two, layer, receiving = pair
    for seq in range(1, 201):
        one.publish_update(document_id, seq, f"update {seq}".encode())
    await _received(receiving, 200)
    assert receiving.updates == [(seq, f"update {seq}".encode()) for seq in range(1, 201)]
    assert layer.sends == {two.channel: 1}


async def test_a_batch_stays_under_its_size_limit(pair: Any) -> None:
    document_id, one, two, layer, receiving = pair
    update = b"x" * (200 * 1024)
    for seq in range(1, 21):
        one.publish_update(document_id, seq, update)
    await _received(receiving, 20)
    assert [seq for seq, _ in receiving.updates] == list(range(1, 21))
    assert all(body == update for _, body in receiving.updates)
    per_batch = MAX_BATCH_BYTES // len(update)
    assert layer.sends == {two.channel: -(-20 // per_batch)}


async def test_one_message_per_replica_carries_every_document(pair: Any) -> None:
    document_id, one, two, layer, receiving = pair
    other, third = uuid.uuid4(), Room()
    rooms = {document_id: receiving, other: third}
    two.find_room = rooms.get
    await two.subscribe(other)
    await one.subscribe(other)
    for _ in range(200):
        if one.interest.listening(other):
            break
        await asyncio.sleep(0.01)
    layer.sends.clear()
    for seq in range(1, 51):
        one.publish_update(document_id, seq, b"a")
        one.publish_update(other, seq, b"b")
    await _received(receiving, 50)
    await _received(third, 50)
    assert [seq for seq, _ in receiving.updates] == list(range(1, 51))
    assert [seq for seq, _ in third.updates] == list(range(1, 51))
    assert layer.sends == {two.channel: 1}
    for fanout in (one, two):
        await fanout.unsubscribe(other)
