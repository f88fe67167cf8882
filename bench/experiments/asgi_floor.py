"""Experiment, not the product: what Tandem's ASGI stack costs a connection with no Tandem in it.

Serves the sync handshake of an empty document (a client's sync step 1 gets an empty sync
step 2, nothing else) under uvicorn configured by ``backend.serve.uvicorn_config``, as Tandem
is (uvloop, httptools, ``StallAbortingProtocol``, proxy headers, pings; lifespan off), so
that the idle workload's time to connect 10,000 sockets can be split: what uvicorn's
handshake costs, what Channels adds, and what is left for Tandem's own admission and room
join. No database, no auth, no room (Tandem's settings are loaded, as its WebSocket
protocol reads them).

--channels  The answer comes from a consumer on Tandem's lean Channels base
            (``AdmittingConsumer``: no channel, no per-message database hop) behind
            ``ProtocolTypeRouter`` and ``URLRouter``, as Tandem's does, admitting everyone;
            without it, from a raw ASGI callable.

``harness/servers.py`` offers these as ``asgi-floor`` and ``channels-floor`` (only when
named with ``--servers``).

Usage: python bench/experiments/asgi_floor.py PORT [--channels]
"""

from __future__ import annotations

import sys
from typing import Any

SYNC_STEP_2_EMPTY = bytes([0, 1, 2, 0, 0])
"""Sync step 2 carrying the update of an empty document (``[0, 0]``, length-prefixed)."""


def _answer(frame: bytes) -> bytes | None:
    return SYNC_STEP_2_EMPTY if frame[:2] == b"\x00\x00" else None


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":  # lifespan is off; plain HTTP gets a 404
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            reply = _answer(message.get("bytes") or b"")
            if reply is not None:
                await send({"type": "websocket.send", "bytes": reply})
        else:
            return


def channels_app() -> Any:
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import re_path

    from backend.collab.edge.base_consumer import AdmittingConsumer

    class Floor(AdmittingConsumer):
        async def _admit(self) -> int | None:
            return None

        async def receive(
            self, text_data: str | None = None, bytes_data: bytes | None = None
        ) -> None:
            reply = _answer(bytes_data or b"")
            if reply is not None:
                await self.send(bytes_data=reply)

    return ProtocolTypeRouter({"websocket": URLRouter([re_path(r".*", Floor.as_asgi())])})


def main() -> None:
    import os

    import django
    import uvicorn

    # Tandem's settings: its WebSocket protocol reads them (metrics, limits) when imported.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    django.setup()
    from backend.serve import uvicorn_config

    app = channels_app() if "--channels" in sys.argv else raw_app
    config = uvicorn_config(app, "127.0.0.1", int(sys.argv[1]), 32 * 1024 * 1024, 3)
    config.lifespan = "off"
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
