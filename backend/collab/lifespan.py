"""The ASGI lifespan protocol: on shutdown, flush every room before the process exits.

uvicorn closes open WebSockets with 1012 (service restart) when it receives SIGTERM, waits
for their handlers, then sends ``lifespan.shutdown``; here every pending write is committed
and each room's final snapshot stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from backend.collab.runtime import current_runtime

logger = logging.getLogger(__name__)


async def lifespan_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            runtime = current_runtime()
            if runtime is not None:
                try:
                    await runtime.close()
                except Exception:
                    logger.exception("flushing rooms at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
