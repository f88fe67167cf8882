"""Redis pub/sub for TandemChannelLayer's process channels (``redis_layer.py``): a
publisher that keeps the order of sends, and a subscription kept open.

:class:`Publisher` sends on one connection of its own, one command at a time in the order
the sends were made (concurrent sends on pooled connections would reach Redis in any
order), without the pool's checkout per message.

:class:`Subscription` hears a process's messages without a command per receive: its reader
subscribes, hands every message to the layer, and when Redis goes quiet for ``idle_ping``
seconds sends a PING: no answer within as long again means a connection that died without
closing, dropped like a closed one. Whatever ends a subscription (Redis restarted, the
connection dropped or went silent) is logged as a failed receive and the reader subscribes
again ``retry_delay`` seconds later; what was published meanwhile is lost, which the
layer's users repair (at-most-once, see ``redis_layer.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class Publisher:
    """PUBLISH in call order over a connection checked out of ``pool`` and kept; a
    connection a send failed or was cancelled on is dropped and replaced at the next."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._lock = asyncio.Lock()  # waiters are served in the order they came
        self._connection: Any = None

    async def publish(self, topic: str, content: bytes) -> None:
        async with self._lock:
            if self._connection is None:
                self._connection = await self.pool.get_connection()
            try:
                await self._connection.send_command("PUBLISH", topic, content)
                await self._connection.read_response()
            except BaseException:
                connection, self._connection = self._connection, None
                await connection.disconnect()
                await self.pool.release(connection)
                raise


class Subscription:
    """A topic's subscription on the running event loop, read by a task of its own."""

    def __init__(
        self,
        topic: str,
        client: Callable[[], Any],
        hand_out: Callable[[bytes], None],
        *,
        retry_delay: float,
        idle_ping: float,
    ) -> None:
        self.topic = topic
        self.loop = asyncio.get_running_loop()
        self._client = client  # the redis-py client of the topic's shard, on this loop
        self._hand_out = hand_out
        self.retry_delay = retry_delay
        self.idle_ping = idle_ping
        self._tried = asyncio.Event()
        self._task = self.loop.create_task(self._read_forever(), name=f"subscription {topic}")

    async def ready(self) -> None:
        """Return once the first attempt has ended: subscribed, or failed (and retrying)."""
        await self._tried.wait()

    async def close(self) -> None:
        self._task.cancel()
        if self.loop is asyncio.get_running_loop():
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning(
                    "channel layer receive failed: the Redis subscription to %s ended (%s); "
                    "subscribing again in %g s",
                    self.topic,
                    error or type(error).__name__,
                    self.retry_delay,
                )
            self._tried.set()
            await asyncio.sleep(self.retry_delay)

    async def _read(self) -> None:
        pubsub = self._client().pubsub()
        try:
            await pubsub.subscribe(self.topic)
            confirmed = await pubsub.get_message(timeout=self.idle_ping)
            if confirmed is None or confirmed["type"] != "subscribe":
                raise ConnectionError(f"Redis did not confirm the subscription: {confirmed!r}")
            self._tried.set()
            pinged = False
            while True:
                message = await pubsub.get_message(timeout=self.idle_ping)
                if message is None:
                    if pinged:
                        raise ConnectionError(f"no answer to a PING within {self.idle_ping:g} s")
                    await pubsub.ping()
                    pinged = True
                    continue
                pinged = False
                if message["type"] == "message":
                    self._take(message["data"])
        finally:
            await pubsub.aclose()

    def _take(self, content: bytes) -> None:
        try:
            self._hand_out(content)
        except Exception:
            logger.exception("dropped a channel layer message that could not be read")
