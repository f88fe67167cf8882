"""The floor: a bare y-websocket relay with pycrdt + websockets + uvloop (no Django, no disk).

One pycrdt Doc per room (the URL path), the standard sync handshake, and every update
frame relayed as the same bytes to the room's other sockets. Awareness frames are relayed
as they came. Nothing is validated beyond what pycrdt does and nothing is stored: this is
what a Yjs relay costs in Python before any framework, auth or durability.

Usage: python bench/bare_relay.py [--host 127.0.0.1] [--port 8766]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from typing import Any

import uvloop
from pycrdt import Doc, YMessageType, YSyncMessageType, create_sync_message, handle_sync_message
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed


class Room:
    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.clients: set[ServerConnection] = set()


rooms: dict[str, Room] = {}


async def handle(ws: ServerConnection) -> None:
    name = ws.request.path if ws.request is not None else "/"
    room = rooms.setdefault(name, Room())
    room.clients.add(ws)
    try:
        await ws.send(create_sync_message(room.doc))
        async for frame in ws:
            if not isinstance(frame, bytes) or len(frame) < 2:
                continue
            if frame[0] == YMessageType.SYNC:
                try:
                    reply = handle_sync_message(frame[1:], room.doc)
                except ValueError:
                    continue
                if reply is not None:
                    await ws.send(reply)
                if frame[1] in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
                    broadcast((c for c in room.clients if c is not ws), frame)
            elif frame[0] == YMessageType.AWARENESS:
                broadcast((c for c in room.clients if c is not ws), frame)
    except ConnectionClosed:
        pass
    finally:
        room.clients.discard(ws)
        if not room.clients:
            rooms.pop(name, None)


async def main(host: str, port: int) -> None:
    async with serve(handle, host, port, compression=None, max_size=1 << 20, max_queue=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main(args.host, args.port))
