"""The delivery loop: every few seconds report changed documents, and whenever deliveries
are due (or this process just queued some) claim a batch, POST it, record the outcomes.

One loop per event loop: started in the web process on its first HTTP request
(``WEBHOOK_DELIVERY=inline``) or by ``manage.py deliver_webhooks``. Any number of them may
run against one database (see ``outbox``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx
import psycopg
from django.conf import settings
from django.db import close_old_connections, connections

from backend.db_connections import own_connection_params
from backend.webhooks import events, metrics, outbox, producers, sender

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
GAUGE_EVERY_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 600.0
LISTEN_RETRY_SECONDS = 5.0

# Webhook work has its own database threads: it never waits behind (nor delays) the update
# log's appends, which go through Channels' database thread.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhooks-db")


async def in_webhook_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    def call() -> R:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return await asyncio.get_running_loop().run_in_executor(_executor, call)


class Deliverer:
    """Delivers the outbox until stopped."""

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._next_changes = 0.0
        self._next_gauges = 0.0
        self._next_prune = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        events.add_waker(self.wake)
        # An empty context: not the one of the request that happened to start it.
        context = contextvars.Context()
        self._tasks = [loop.create_task(self.run(), name="webhooks", context=context)]
        if connections["default"].vendor == "postgresql":
            listen = self.listen()
            self._tasks.append(loop.create_task(listen, name="webhooks-listen", context=context))

    async def stop(self) -> None:
        events.remove_waker(self.wake)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def listen(self) -> None:
        """Wake on every ``NOTIFY`` of the outbox's channel: events committed elsewhere."""
        params = own_connection_params()
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
                async with conn:
                    await conn.execute(f"LISTEN {events.CHANNEL}")
                    self._wakeup.set()  # whatever was committed while not listening
                    async for _ in conn.notifies():
                        self._wakeup.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("webhook LISTEN failed (%s); polling until it reconnects", exc)
            await asyncio.sleep(LISTEN_RETRY_SECONDS)

    def wake(self) -> None:
        """Deliver now (thread-safe: called after a commit in a database thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self) -> None:
        # Built in a thread: its TLS context loads the CA bundle (15-35 ms idle, 129 ms seen
        # on a loaded machine), which would hold the loop at the process's first request.
        async with await asyncio.to_thread(sender.new_client) as client:
            while True:
                self._wakeup.clear()
                try:
                    busy = await self.tick(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("webhook delivery failed; trying again shortly")
                    busy = False
                if not busy:
                    await self._sleep()

    async def _sleep(self) -> None:
        timeout = min(
            settings.WEBHOOK_POLL_SECONDS, max(0.0, self._next_changes - time.monotonic())
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=max(timeout, 0.01))

    async def tick(self, client: httpx.AsyncClient) -> bool:
        """One round; True when a full batch was claimed (more may be due)."""
        now = time.monotonic()
        if now >= self._next_changes:
            self._next_changes = now + settings.WEBHOOK_CHANGE_INTERVAL_SECONDS
            await in_webhook_thread(producers.changes_collect)
        if now >= self._next_gauges:
            self._next_gauges = now + GAUGE_EVERY_SECONDS
            depth, age = await in_webhook_thread(outbox.queue_state)
            metrics.queue_depth.set(depth)
            metrics.oldest_undelivered_seconds.set(age)
        if now >= self._next_prune:
            more = await in_webhook_thread(outbox.prune)
            self._next_prune = now + (GAUGE_EVERY_SECONDS if more else PRUNE_EVERY_SECONDS)
        batch = settings.WEBHOOK_BATCH
        claimed = await in_webhook_thread(outbox.claim, limit=batch)
        await asyncio.gather(*(self._deliver(client, one) for one in claimed))
        return bool(len(claimed) == batch)

    async def _deliver(self, client: httpx.AsyncClient, claimed: outbox.Claimed) -> None:
        result = await sender.send(client, claimed)
        metrics.attempted(result.outcome)
        if not result.ok:
            # The host only: a URL's path or query is often a secret of its own.
            logger.info(
                "webhook %s delivery %s to %s: %s %s",
                claimed.webhook_id,
                claimed.id,
                urlsplit(claimed.url).hostname,
                result.outcome,
                result.status_code or "",
            )
        await in_webhook_thread(outbox.record, claimed, result)


_deliverers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deliverer] = (
    weakref.WeakKeyDictionary()
)


def start_webhook_delivery() -> None:
    """Start the running loop's deliverer unless it has one."""
    loop = asyncio.get_running_loop()
    if loop not in _deliverers:
        deliverer = _deliverers[loop] = Deliverer()
        deliverer.start()


async def stop_webhook_delivery() -> None:
    deliverer = _deliverers.pop(asyncio.get_running_loop(), None)
    if deliverer is not None:
        await deliverer.stop()


async def on_request_started(**_: Any) -> None:
    """``request_started`` from the ASGI handler: the web process's deliverer starts with
    its first HTTP request (a health probe, in practice, within seconds of startup)."""
    start_webhook_delivery()
