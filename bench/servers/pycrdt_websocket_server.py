"""pycrdt-websocket 0.16.5 (in memory) under uvicorn, its ASGI server, as the Python peer.

Runs in bench/.venv so pycrdt-websocket's own pycrdt pin cannot disturb the project's.
Usage: bench/.venv/bin/python bench/servers/pycrdt_websocket_server.py <port>
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger


async def main(port: int) -> None:
    # exception_logger, as Jupyter runs it: without it a client that leaves while its room
    # broadcasts (uvicorn's ClientDisconnected) ends the whole server's task group.
    websocket_server = WebsocketServer(auto_clean_rooms=True, exception_handler=exception_logger)
    app = ASGIServer(websocket_server)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="off",
    )
    async with websocket_server:
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8768))
