"""Experiment, not the product: Tandem with one of the profile's suggested fixes patched in.

Runs ``python -m backend.serve`` after monkeypatching, so a suggested change to backend/ can
be measured by the same suite before anyone edits backend/. ``harness/servers.py`` offers these
as the servers ``tandem-nohop`` and ``tandem-nohop-pool`` (only when named with ``--servers``).

--no-frame-hop  Channels 4.3's ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()``
                (a ``sync_to_async`` call in the one thread-sensitive thread) before *every*
                handler, so each incoming WebSocket frame waits behind whatever the database
                thread is doing (the rooms' commits). Skip it for ``websocket.receive``: the
                consumer's ``receive`` never touches the ORM.
--db-pool       Run the update store's calls with ``thread_sensitive=False`` (a pool of threads,
                one database connection each) instead of the single shared thread, so rooms
                commit in parallel.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any


def skip_frame_hop() -> None:
    from channels.consumer import AsyncConsumer, get_handler_name

    original = AsyncConsumer.dispatch

    async def dispatch(self: Any, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.receive":
            handler = getattr(self, get_handler_name(message), None)
            if handler is not None:
                await handler(message)
                return
        await original(self, message)

    AsyncConsumer.dispatch = dispatch


def pooled_store() -> None:
    import django

    django.setup()
    from channels.db import database_sync_to_async

    from backend.collab.storage import store

    # The name store.py calls; it imports in_db_thread from storage/db.py, hence the ignore.
    store.in_db_thread = lambda function: database_sync_to_async(function, thread_sensitive=False)  # type: ignore[attr-defined]


if __name__ == "__main__":
    flags = set(sys.argv[1:])
    if "--no-frame-hop" in flags:
        skip_frame_hop()
    if "--db-pool" in flags:
        pooled_store()
    sys.argv = [sys.argv[0]]
    runpy.run_module("backend.serve", run_name="__main__", alter_sys=True)
