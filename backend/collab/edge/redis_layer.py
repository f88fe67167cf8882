"""A leaner Redis channel layer: fewer round trips per message, a pool that waits.

channels-redis spends four round trips receiving a message on a process channel (a Lua
cleanup of the ``$inflight`` backup queue, BZPOPMIN, a ZADD into the backup, a ZPOPMIN
from a detached cleaner task) and four sending one (ZREMRANGEBYSCORE, ZCOUNT, ZADD,
EXPIRE). Its redis-py pool raises ``MaxConnectionsError`` when its 100 connections are
busy. :class:`TandemChannelLayer` keeps the layer API, key layout, capacity, expiry,
groups and sharding, and changes three things:

- a receive on a process channel (``...!``) pops up to ``receive_batch`` messages at once
  with one blocking BZMPOP (Redis 7.0+) and hands them out from the receive buffer;
- a send is one script (trim expired, check capacity, ZADD, EXPIRE) and raises
  ``ChannelFull`` as before;
- the pool waits up to ``pool_timeout`` seconds for a free connection.

Process channels drop the ``$inflight`` backup queue. It protects a message popped by a
receive that is cancelled before the message is handed out; without it that message (here:
the batch popped with it) is lost. Tandem treats the layer as at-most-once anyway
(fan-out and notifications repair gaps from PostgreSQL, see ``fanout.py`` and
``notifications/hub.py``), and the backup cost three of the four round trips of every
receive. General channels (no ``!``) keep channels-redis's receive and its backup.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

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
    """channels-redis's layer with one round trip per send and per batch received on a
    process channel, at-most-once on those channels, and a pool that waits."""

    def __init__(
        self,
        *args: Any,
        receive_batch: int = 100,
        pool_timeout: float = 10.0,
        max_connections: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.receive_batch = receive_batch
        self.pool_timeout = pool_timeout
        self.max_connections = max_connections
        self._last_score = 0.0

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

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send a message onto a (general or process) channel in one round trip."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        key_channel = channel
        if "!" in channel:
            message = {**message, "__asgi_channel__": channel}
            key_channel = self.non_local_name(channel)
            # Where the receiver pops (channels-redis 4.3 hashes the whole name here, and
            # so sends to a shard nobody reads for about half the channels).
            index = self.consistent_hash(key_channel)
        else:
            index = next(self._send_index_generator)
        connection = self.connection(index)
        now = time.time()
        args = (
            self.prefix + key_channel,
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

    async def receive_single(self, channel: str) -> tuple[Any, dict[str, Any]]:
        """The next message of ``channel``; on a process channel, pops a batch, buffers all
        but the last message for the receivers of their channels and returns the last, which
        ``receive`` buffers after them: each channel's messages stay in order."""
        if "!" not in channel:
            return await super().receive_single(channel)  # type: ignore[no-any-return]
        assert self.require_valid_channel_name(channel, receive=True), "Channel name invalid"
        assert channel.endswith("!")
        connection = self.connection(self.consistent_hash(channel))
        popped = None
        while popped is None:
            popped = await self._pop_batch(connection, self.prefix + channel)
        *batch, last = (self._unpack(channel, content) for content, _ in popped)
        # Nothing awaits from here until ``receive`` buffers the last one: the batch reaches
        # the buffers whole and in order.
        for target, message in batch:
            for name in target if isinstance(target, list) else [target]:
                self.receive_buffer[name].put_nowait(message)
        return last

    async def _pop_batch(self, connection: Any, key: str) -> list[Any] | None:
        try:
            # No more than a receive buffer holds: a full one drops its oldest message.
            count = min(self.receive_batch, self.capacity)
            result = await connection.bzmpop(self.brpop_timeout, 1, [key], min=True, count=count)
        except ResponseError as error:
            if "unknown command" in str(error).lower():
                raise RuntimeError(
                    "TandemChannelLayer needs Redis 7.0 or later (BZMPOP); upgrade Redis or "
                    "set CHANNEL_LAYER_BACKEND=channels_redis.core.RedisChannelLayer."
                ) from error
            raise
        return None if result is None else list(result[1])

    def _unpack(self, channel: str, content: bytes) -> tuple[Any, dict[str, Any]]:
        """(the channel or channels it is for, the message) of one popped message."""
        message: dict[str, Any] = self.deserialize(content)
        return message.pop("__asgi_channel__", channel), message
