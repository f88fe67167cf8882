"""TandemChannelLayer (backend/collab/edge/redis_layer.py) against a real Redis: the channel
layer semantics callers rely on, with fewer round trips and a pool that waits."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from channels_redis.utils import _consistent_hash
from django.conf import settings

from backend.collab.edge.redis_layer import TandemChannelLayer
from tests.support.datastores import PrivateRedis

MakeLayer = Callable[..., Any]


def _hosts(*urls: str) -> list[dict[str, Any]]:
    return [{"address": url, "socket_timeout": 15} for url in urls]


@pytest.fixture
async def make_layer() -> AsyncIterator[MakeLayer]:
    """Layers under a prefix of this test's own, flushed afterwards."""
    made: list[Any] = []

    def _make(backend: type[Any] = TandemChannelLayer, **config: Any) -> Any:
        config.setdefault("hosts", _hosts(settings.REDIS_URL))
        prefix = f"{settings.REDIS_PREFIX}:layer-test:{uuid.uuid4().hex[:8]}"
        config.setdefault("capacity", 10_000)
        layer = backend(prefix=prefix, **config)
        made.append(layer)
        return layer

    yield _make
    for layer in made:
        await layer.flush()


async def test_messages_sent_while_nobody_receives_all_arrive_in_order(
    make_layer: MakeLayer,
) -> None:
    layer = make_layer()
    channel = await layer.new_channel()
    for i in range(1000):
        await layer.send(channel, {"type": "m", "i": i})
    received = [(await layer.receive(channel))["i"] for _ in range(1000)]
    assert received == list(range(1000))


async def test_two_channels_of_one_layer_receive_concurrently(make_layer: MakeLayer) -> None:
    layer = make_layer()
    one, two = await layer.new_channel(), await layer.new_channel()

    async def take(channel: str, count: int) -> list[int]:
        return [(await layer.receive(channel))["i"] for _ in range(count)]

    receivers = asyncio.gather(take(one, 300), take(two, 300))
    await asyncio.sleep(0.1)  # both wait: one of them blocks in Redis
    for i in range(300):
        await layer.send(one, {"type": "m", "i": i})
        await layer.send(two, {"type": "m", "i": i})
    assert await asyncio.wait_for(receivers, 10) == [list(range(300))] * 2


async def test_a_full_general_channel_refuses_messages(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=3)
    for i in range(3):
        await layer.send("jobs", {"type": "m", "i": i})
    with pytest.raises(ChannelFull):
        await layer.send("jobs", {"type": "m", "i": 3})
    assert (await layer.receive("jobs"))["i"] == 0
    await layer.send("jobs", {"type": "m", "i": 3})  # room again


async def test_a_process_channel_keeps_its_newest_messages_when_nobody_receives(
    make_layer: MakeLayer,
) -> None:
    """Pub/sub has no capacity to refuse at: the receiving process buffers ``capacity``
    messages a channel and drops the oldest beyond."""
    layer = make_layer(capacity=3)
    channel = await layer.new_channel()
    for i in range(5):
        await layer.send(channel, {"type": "m", "i": i})
    await layer.send(channel, {"type": "last"})
    await _until_buffered(layer, channel, {"type": "last"})
    assert [(await layer.receive(channel)).get("i") for _ in range(3)] == [3, 4, None]


async def _until_buffered(layer: Any, channel: str, message: dict[str, Any]) -> None:
    for _ in range(100):
        if message in layer.receive_buffer[channel]._queue:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{message} never reached the receive buffer of {channel}")


async def test_expired_messages_of_a_general_channel_are_dropped(make_layer: MakeLayer) -> None:
    layer = make_layer(capacity=1, expiry=1)
    await layer.send("jobs", {"type": "m", "i": "old"})
    with pytest.raises(ChannelFull):
        await layer.send("jobs", {"type": "m", "i": "refused"})
    await asyncio.sleep(2.1)  # past the expiry in whole seconds, as channels-redis trims
    await layer.send("jobs", {"type": "m", "i": "new"})
    assert (await layer.receive("jobs"))["i"] == "new"


async def test_a_message_to_a_process_not_subscribed_is_lost(make_layer: MakeLayer) -> None:
    """At-most-once: only a process that has made its channel (and so subscribed) hears."""
    layer = make_layer()
    sender = make_layer()
    sender.prefix = layer.prefix
    channel = f"specific.{layer.client_prefix}!{uuid.uuid4().hex}"  # never made
    await sender.send(channel, {"type": "lost"})
    await layer.new_channel()
    await sender.send(channel, {"type": "heard"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "heard"}


async def test_group_send_reaches_the_members_only(make_layer: MakeLayer) -> None:
    layer = make_layer()
    sender = make_layer()  # another process, same prefix
    sender.prefix = layer.prefix
    members = [await layer.new_channel() for _ in range(2)]
    outsider = await layer.new_channel()
    for channel in members:
        await layer.group_add("room", channel)
    await layer.group_add("room", outsider)
    await layer.group_discard("room", outsider)
    await sender.group_send("room", {"type": "hello"})
    for channel in members:
        assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "hello"}
    stray = asyncio.ensure_future(layer.receive(outsider))
    await asyncio.sleep(0.3)
    assert not stray.done()
    stray.cancel()


async def test_general_channels_still_work(make_layer: MakeLayer) -> None:
    layer = make_layer()
    await layer.send("jobs", {"type": "job", "n": 1})
    assert await asyncio.wait_for(layer.receive("jobs"), 5) == {"type": "job", "n": 1}


async def test_a_cancelled_receive_does_not_break_the_next(make_layer: MakeLayer) -> None:
    layer = make_layer()
    one, two = await layer.new_channel(), await layer.new_channel()
    blocked = asyncio.ensure_future(layer.receive(one))
    await asyncio.sleep(0.2)  # it waits in Redis (BZMPOP)
    other = asyncio.ensure_future(layer.receive(two))
    await asyncio.sleep(0.1)  # it waits for the receive lock
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    await layer.send(one, {"type": "after"})
    await layer.send(two, {"type": "other"})
    assert await asyncio.wait_for(layer.receive(one), 5) == {"type": "after"}
    assert await asyncio.wait_for(other, 5) == {"type": "other"}


def _ours_and_the_stock_failing(raises: type[BaseException], reason: str) -> list[Any]:
    """Both layers as ``backend``: ours passes; channels-redis's must fail, with ``raises``."""
    xfail = pytest.mark.xfail(strict=True, raises=raises, reason=reason)
    return [TandemChannelLayer, pytest.param(RedisChannelLayer, marks=xfail)]


@pytest.mark.parametrize(
    "backend",
    _ours_and_the_stock_failing(
        redis.exceptions.MaxConnectionsError,
        "channels-redis's pool fails when its 100 connections are busy",
    ),
)
async def test_a_burst_of_concurrent_sends_waits_for_connections(
    make_layer: MakeLayer, backend: type[Any]
) -> None:
    layer = make_layer(backend)
    channels = [await layer.new_channel() for _ in range(20)]
    outcomes = await asyncio.gather(
        *(layer.send(channels[i % 20], {"type": "m", "i": i}) for i in range(400)),
        *(layer.group_add(f"g{i}", channels[i % 20]) for i in range(200)),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome

    async def drain(channel: str) -> list[int]:
        return [(await layer.receive(channel))["i"] for _ in range(20)]

    received = await asyncio.wait_for(asyncio.gather(*(drain(c) for c in channels)), 10)
    assert received == [list(range(c, 400, 20)) for c in range(20)]


SHARDS = ["redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/2"]


def _group_on_each_shard() -> list[str]:
    by_shard: dict[int, str] = {}
    while len(by_shard) < len(SHARDS):
        group = f"room-{uuid.uuid4().hex}"
        by_shard.setdefault(_consistent_hash(group, len(SHARDS)), group)
    return [by_shard[i] for i in range(len(SHARDS))]


@pytest.mark.parametrize(
    "backend",
    _ours_and_the_stock_failing(
        TimeoutError,
        "channels-redis 4.3 sends to a process channel on the shard its whole name hashes "
        "to, and receives on the shard of its process part",
    ),
)
async def test_layers_shard_process_channels_and_groups_over_hosts(
    make_layer: MakeLayer, backend: type[Any]
) -> None:
    layer = make_layer(backend, hosts=_hosts(*SHARDS))
    sender = make_layer(backend, hosts=_hosts(*SHARDS))
    sender.prefix = layer.prefix
    channels = [await layer.new_channel() for _ in range(32)]
    groups = _group_on_each_shard()
    for group in groups:
        await layer.group_add(group, channels[0])
        await sender.group_send(group, {"type": "g", "group": group})
    for group in groups:
        assert await asyncio.wait_for(layer.receive(channels[0]), 5) == {
            "type": "g",
            "group": group,
        }
    for i, channel in enumerate(channels):
        await sender.send(channel, {"type": "c", "i": i})
    for i, channel in enumerate(channels):
        assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "c", "i": i}
    groups_on = [
        any(redis.Redis.from_url(url).scan_iter(f"{layer.prefix}:group:*")) for url in SHARDS
    ]
    assert groups_on == [True, True]


def _calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, dict[str, int]] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}


async def test_a_message_costs_one_publish_and_no_command_to_receive(
    private_redis: PrivateRedis, make_layer: MakeLayer
) -> None:
    """Counted on a Redis of the test's own; a group send publishes once per process."""
    layer = make_layer(hosts=_hosts(private_redis.url))
    client = redis.Redis.from_url(private_redis.url)
    channel, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("both", channel)
    await layer.group_add("both", other)
    client.config_resetstat()
    for i in range(200):
        await layer.send(channel, {"type": "m", "i": i})
    assert [(await layer.receive(channel))["i"] for _ in range(200)] == list(range(200))
    await layer.group_send("both", {"type": "g"})
    assert [await layer.receive(c) for c in (channel, other)] == [{"type": "g"}] * 2
    calls = _calls(client)
    calls.pop("config|resetstat")
    calls.pop("hello", None)  # a pooled connection opened for the group send
    # The group send: its membership trimmed and read, then one PUBLISH for both channels.
    assert calls == {"publish": 201, "zremrangebyscore": 1, "zrange": 1}


async def test_a_subscription_comes_back_after_redis_restarts(
    private_redis: PrivateRedis, make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    layer = make_layer(hosts=_hosts(private_redis.url), resubscribe_delay=0.1)
    sender = make_layer(hosts=_hosts(private_redis.url))
    sender.prefix = layer.prefix
    channel = await layer.new_channel()
    await sender.send(channel, {"type": "before"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "before"}
    await asyncio.to_thread(private_redis.restart)
    assert await asyncio.wait_for(_heard_after_retries(sender, layer, channel), 10)
    assert "channel layer receive failed: the Redis subscription" in caplog.text


async def test_a_silent_subscription_is_noticed_and_renewed(
    private_redis: PrivateRedis, make_layer: MakeLayer, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection that stops answering (here: Redis asleep, as behind a dead link) is
    pinged, given up and replaced, not waited on forever."""
    # Quiet for 0.3 s: a PING; as long again unanswered: the connection is given up.
    layer = make_layer(hosts=_hosts(private_redis.url), resubscribe_delay=0.1, idle_ping=0.3)
    sender = make_layer(hosts=_hosts(private_redis.url))
    sender.prefix = layer.prefix
    channel = await layer.new_channel()
    await asyncio.to_thread(private_redis.pause(1.5).wait)
    assert await asyncio.wait_for(_heard_after_retries(sender, layer, channel), 10)
    assert "no answer to a PING within 0.3 s" in caplog.text


async def _heard_after_retries(sender: Any, layer: Any, channel: str) -> bool:
    """Send until one arrives: those sent before the subscription is back are lost."""
    for attempt in range(100):
        with contextlib.suppress(redis.exceptions.ConnectionError):  # Redis still starting
            await sender.send(channel, {"type": "after", "n": attempt})
        try:
            await asyncio.wait_for(layer.receive(channel), 0.2)
            return True
        except TimeoutError:
            continue
    return False
