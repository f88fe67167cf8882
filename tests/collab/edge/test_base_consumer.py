"""A closing socket does not wait for the database thread (10,000 closing at once did)."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from backend.collab.edge.base_consumer import AdmittingConsumer


class _Consumer(AdmittingConsumer):
    closed: list[int] = []

    async def _admit(self) -> int | None:
        return None

    async def disconnect(self, code: int) -> None:
        self.closed.append(code)


async def test_a_disconnect_does_not_queue_behind_the_database_thread() -> None:
    release = threading.Event()
    # sync_to_async's default (thread-sensitive) thread: where Channels' per-disconnect
    # aclose_old_connections() would have waited its turn.
    busy = asyncio.ensure_future(sync_to_async(release.wait)(10))
    communicator = WebsocketCommunicator(_Consumer.as_asgi(), "/ws/test/")
    try:
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_input({"type": "websocket.disconnect", "code": 1001})
        ended, _ = await asyncio.wait({communicator.future}, timeout=1)
        assert ended, "the consumer's disconnect handler waited for the database thread"
        assert _Consumer.closed == [1001]
        assert not busy.done(), "the database thread was busy throughout"
    finally:
        release.set()
        await busy
        await communicator.wait()
