"""A leaner Redis channel layer: process channels over pub/sub, a pool that waits.

channels-redis keeps every channel's messages in a Redis sorted set: four round trips to
send one (ZREMRANGEBYSCORE, ZCOUNT, ZADD, EXPIRE) and four to receive one on a process
channel (a Lua cleanup of the ``$inflight`` backup queue, BZPOPMIN, a ZADD into the backup,
a ZPOPMIN from a detached cleaner task). Its redis-py pool raises ``MaxConnectionsError``
when its 100 connections are busy. :class:`TandemChannelLayer` keeps the layer API, groups,
general channels and sharding, and changes three things:

- a process channel's messages (``specific.<process>!<name>``) travel by Redis pub/sub: a
  send is one PUBLISH to the receiving process's topic (``<prefix><specific.<process>!>``),
  and the layer holds one subscription per topic, opened by ``new_channel`` and reopened
  after a lost connection, whose reader hands each message to its channel's receive
  buffer. Receiving costs no command at all; a group send publishes once per member
  process (naming its member channels) and keeps the sorted sets for general members;
- general channels (no ``!``) keep the sorted sets, a send in one script (trim expired,
  check capacity, ZADD, EXPIRE) that raises ``ChannelFull`` as before;
- the pool waits up to ``pool_timeout`` seconds for a free connection.

What pub/sub gives up on process channels: a message published while its process is not
subscribed (before its ``new_channel``, during a resubscription after Redis restarted or
the connection dropped) is lost rather than kept for ``expiry`` seconds, and a sender never
hears ``ChannelFull``: the receiving process buffers ``capacity`` messages per channel and
drops the oldest beyond (channels-redis's bounded receive buffer), and Redis disconnects a
subscriber more than 32 MB behind (``client-output-buffer-limit pubsub``), which then
resubscribes. Tandem treats the layer as at-most-once anyway: fan-out and notifications
repair gaps from PostgreSQL (``fanout.py``, ``notifications/hub.py``), access changes are
re-checked periodically. A lost subscription is logged as a failed receive.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis
from redis.exceptions import NoScriptError

from backend.collab.edge.redis_pubsub import Publisher, Subscription

logger = logging.getLogger(__name__)

# KEYS[1]: the channel's sorted set. ARGV: expired-before score, capacity, score, message,
# expiry seconds. Returns 0 when the channel is full (nothing added), 1 otherwise.
_SEND = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
_SEND_SHA = hashlib.sha1(_SEND.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)


class TandemChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels-redis's layer with process channels over pub/sub (one PUBLISH per send,
    no command per receive, at-most-once), general channels in one round trip per send,
    and a pool that waits."""

    def __init__(
        self,
        *args: Any,
        pool_timeout: float = 10.0,
        max_connections: int = 100,
        resubscribe_delay: float = 1.0,
        idle_ping: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pool_timeout = pool_timeout
        self.max_connections = max_connections
        self.resubscribe_delay = resubscribe_delay
        self.idle_ping = idle_ping
        self._last_score = 0.0
        self._subscriptions: dict[str, Subscription] = {}
        # One per pool, and so per event loop and shard; gone with the pool it sends on.
        self._publishers: weakref.WeakKeyDictionary[Any, Publisher] = weakref.WeakKeyDictionary()

    def create_pool(self, index: int) -> Any:
        """A pool that waits for a free connection rather than failing at once (Sentinel
        hosts keep channels-redis's pool)."""
        host = dict(self.hosts[index])
        if "master_name" in host:
            return super().create_pool(index)
        host.setdefault("max_connections", self.max_connections)
        host.setdefault("timeout", self.pool_timeout)
        if "address" in host:
            return aioredis.BlockingConnectionPool.from_url(host.pop("address"), **host)
        return aioredis.BlockingConnectionPool(**host)

    # --- process channels: pub/sub ------------------------------------------------------

    def _topic(self, channel: str) -> str:
        """The pub/sub topic of the process a process channel belongs to."""
        return f"{self.prefix}{self.non_local_name(channel)}"

    def _topic_connection(self, topic: str) -> Any:
        # Hashed as channels-redis hashes the process part, so every process channel of
        # one process (and its topic) lives on one shard.
        return self.connection(self.consistent_hash(topic.removeprefix(self.prefix)))

    async def new_channel(self, prefix: str = "specific") -> str:
        """A process channel, subscribed to before it is returned: what is sent to it from
        now on arrives (unless Redis could not be reached: then once it can)."""
        channel: str = await super().new_channel(prefix)
        await self._subscription(channel).ready()
        return channel

    def _subscription(self, channel: str) -> Subscription:
        topic = self._topic(channel)
        loop = asyncio.get_running_loop()
        subscription = self._subscriptions.get(topic)
        if subscription is not None and subscription.loop is not loop:
            if not subscription.loop.is_closed():
                raise RuntimeError(
                    "Two event loops are trying to receive() on one channel layer at once!"
                )
            subscription = None  # its loop ended (a test's, or async_to_sync's)
            self.receive_buffer.clear()
        if subscription is None:
            subscription = Subscription(
                topic,
                lambda: self._topic_connection(topic),
                self._hand_out,
                retry_delay=self.resubscribe_delay,
                idle_ping=self.idle_ping,
            )
            self._subscriptions[topic] = subscription
        return subscription

    def _hand_out(self, content: bytes) -> None:
        """One published message, to the receive buffer of each channel it names."""
        message: dict[str, Any] = self.deserialize(content)
        target = message.pop("__asgi_channel__", None)
        for name in target if isinstance(target, list) else [target]:
            if isinstance(name, str):
                self.receive_buffer[name].put_nowait(message)

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message of ``channel``; a process channel's come from its process's
        subscription (several receivers of one channel take turns)."""
        if "!" not in channel:
            return await super().receive(channel)  # type: ignore[no-any-return]
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        await self._subscription(channel).ready()
        message: dict[str, Any] = await self.receive_buffer[channel].get()
        return message

    async def _publish_to_members(
        self, message: dict[str, Any], topics: dict[str, list[str]]
    ) -> None:
        """``message`` to a group's member process channels, one PUBLISH per process
        (``topics``: each process's topic and its member channels), on pooled connections:
        a group send waits behind no channel's sends."""
        for topic, channels in topics.items():
            addressed = {
                **message,
                "__asgi_channel__": channels if len(channels) > 1 else channels[0],
            }
            await self._topic_connection(topic).publish(topic, self.serialize(addressed))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send a message onto a channel: a process channel's in one PUBLISH (nobody
        subscribed: lost), a general channel's in one script (full: ``ChannelFull``)."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        if "!" in channel:
            topic = self._topic(channel)
            pool = self._topic_connection(topic).connection_pool
            publisher = self._publishers.get(pool)
            if publisher is None:
                publisher = self._publishers[pool] = Publisher(pool)
            await publisher.publish(topic, self.serialize({**message, "__asgi_channel__": channel}))
            return
        connection = self.connection(next(self._send_index_generator))
        now = time.time()
        args = (
            self.prefix + channel,
            int(now) - int(self.expiry),
            self.get_capacity(channel),
            self._next_score(now),
            self.serialize(message),
            int(self.expiry),
        )
        try:
            added = await connection.evalsha(_SEND_SHA, 1, *args)
        except NoScriptError:  # the first send since Redis started: EVAL caches it
            added = await connection.eval(_SEND, 1, *args)
        if not added:
            raise ChannelFull()

    def _next_score(self, now: float) -> str:
        """A score above the last one this layer gave: one sender's messages pop in the
        order sent even when the clock steps back or two sends share a timestamp."""
        self._last_score = max(now, self._last_score + 1e-6)
        return repr(self._last_score)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send to every member: one PUBLISH per member process, and one send per
        general-channel member (a full one skipped, as channels-redis does)."""
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        pipe = self.connection(self.consistent_hash(group)).pipeline(transaction=False)
        pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        pipe.zrange(key, 0, -1)
        _, members = await pipe.execute()
        by_topic: dict[str, list[str]] = {}
        for name in (member.decode("utf8") for member in members):
            if "!" in name:
                by_topic.setdefault(self._topic(name), []).append(name)
                continue
            try:
                await self.send(name, message)
            except ChannelFull:
                logger.info("a member of group %s was full; skipped it", group)
        await self._publish_to_members(message, by_topic)

    async def flush(self) -> None:
        """End the subscriptions, then delete every key (channels-redis's flush)."""
        await self._end_subscriptions()
        await super().flush()

    async def close_pools(self) -> None:
        await self._end_subscriptions()
        await super().close_pools()

    async def _end_subscriptions(self) -> None:
        subscriptions, self._subscriptions = list(self._subscriptions.values()), {}
        for subscription in subscriptions:
            await subscription.close()
