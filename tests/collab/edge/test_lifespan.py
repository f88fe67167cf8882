"""Startup leaves the objects it built out of the garbage collector's full collections, and
makes its young collections rarer."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from backend.collab.edge.lifespan import GC_THRESHOLDS, lifespan_app


async def test_startup_freezes_what_it_built() -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []
    answered = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        answered.set()

    gc.unfreeze()
    thresholds = gc.get_threshold()
    app = asyncio.ensure_future(lifespan_app({"type": "lifespan"}, inbox.get, send))
    try:
        await inbox.put({"type": "lifespan.startup"})
        await answered.wait()
        assert sent == ["lifespan.startup.complete"]
        frozen = gc.get_freeze_count()
        tuned = gc.get_threshold()
        await inbox.put({"type": "lifespan.shutdown"})
        await app
    finally:
        gc.unfreeze()  # the test process lives on: let its objects be collected again
        gc.set_threshold(*thresholds)
    assert frozen > 10_000, "the modules, classes and settings loaded so far"
    assert tuned == GC_THRESHOLDS != thresholds
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
