"""The floor: a bare y-websocket relay with pycrdt + websockets + uvloop (no Django, no disk).

One pycrdt Doc per room (the URL path), the standard sync handshake, and every update
frame relayed as the same bytes to the room's other sockets. Awareness frames are relayed
as they came, except echoes: a client id belongs to the first socket that sets it, and a
frame carrying an id owned by another socket (standard providers echo every state they
hear) is dropped, as Tandem drops it. Nothing is validated beyond what pycrdt does and
nothing is stored: this is what a Yjs relay costs in Python before any framework, auth or
durability.

With ``--durable DSN`` it is the floor of a durable relay: every update is committed to
PostgreSQL (one prepared INSERT per group commit in one round trip: the updates of every
room that arrive while a commit runs share the next transaction and its flush) before it
is relayed, the promise Tandem keeps. Still no auth, sequence numbers or replay.

With ``--redis URL`` several such processes serve the same rooms, as Tandem's replicas do:
every frame a client sends is published on Redis (an update after its commit, with
``--durable``), and what another process publishes is applied to the room's Doc and relayed
to this process's clients. That is the floor of two replicas: Tandem adds sequence numbers
and repair.

Usage: python bench/bare_relay.py [--host 127.0.0.1] [--port 8766] [--durable DSN]
       [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from typing import Any

import psycopg
import redis.asyncio
import uvloop
from pycrdt import (
    Decoder,
    Doc,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    handle_sync_message,
)
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed


class Room:
    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.clients: set[ServerConnection] = set()
        self.owners: dict[int, object] = {}  # awareness client id -> the socket that set it

    def owns(self, sender: object, ids: list[int]) -> bool:
        """Whether every id is ``sender``'s; an id nobody holds becomes its sender's."""
        return all(self.owners.setdefault(i, sender) is sender for i in ids)

    def leave(self, ws: ServerConnection) -> None:
        self.clients.discard(ws)
        self.owners = {i: owner for i, owner in self.owners.items() if owner is not ws}


def awareness_ids(frame: bytes) -> list[int]:
    """The client ids of an awareness frame: type, length, count, then (id, clock, state).
    Raises IndexError or RuntimeError (pycrdt's "Y protocol error") when it is cut short."""
    update = Decoder(Decoder(frame[1:]).read_message() or b"")
    ids = []
    for _ in range(update.read_var_uint()):
        ids.append(update.read_var_uint())
        update.read_var_uint()  # clock
        update.read_message()  # the state, skipped undecoded
    return ids


class Log:
    """Group commit: what arrives while a commit runs goes into the next transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.waiting: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self.committer: asyncio.Task[None] | None = None

    async def append(self, room: str, update: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((room, update, done))
        if self.committer is None or self.committer.done():
            self.committer = asyncio.create_task(self._run())
        await done

    async def _run(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            async with self.conn.pipeline():  # BEGIN, INSERT, COMMIT: one round trip
                await self.conn.execute("BEGIN")
                await self.conn.execute(
                    "INSERT INTO bare_relay_update (room, body)"
                    " SELECT * FROM unnest(%s::text[], %b::bytea[])",
                    ([room for room, _, _ in batch], [body for _, body, _ in batch]),
                    prepare=True,
                )
                await self.conn.execute("COMMIT")
            for _, _, done in batch:
                done.set_result(None)


class Peers:
    """The other processes: PUBLISH each local frame; apply and relay what they publish."""

    PREFIX = "bare-relay:"

    def __init__(self, url: str) -> None:
        self.redis = redis.asyncio.from_url(url)
        self.origin = os.urandom(8)  # this process's mark, to skip its own messages

    async def publish(self, room: str, frame: bytes) -> None:
        await self.redis.publish(self.PREFIX + room, self.origin + frame)

    async def listen(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.psubscribe(self.PREFIX + "*")
        async for message in pubsub.listen():
            data = message["data"]
            if message["type"] != "pmessage" or data[:8] == self.origin:
                continue
            room = rooms.get(message["channel"].decode()[len(self.PREFIX) :])
            frame = data[8:]
            if room is None or len(frame) < 2:
                continue
            if frame[0] == YMessageType.SYNC:
                handle_sync_message(frame[1:], room.doc)
            elif frame[0] == YMessageType.AWARENESS:
                room.owns(self, awareness_ids(frame))  # so local echoes of it are dropped
            broadcast(room.clients, frame)


rooms: dict[str, Room] = {}
log: Log | None = None
peers: Peers | None = None


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
                    if log is not None:
                        await log.append(name, frame)
                    broadcast((c for c in room.clients if c is not ws), frame)
                    if peers is not None:
                        await peers.publish(name, frame)
            elif frame[0] == YMessageType.AWARENESS:
                try:
                    if not room.owns(ws, awareness_ids(frame)):
                        continue  # an echo of another socket's state
                except (IndexError, RuntimeError):
                    continue
                broadcast((c for c in room.clients if c is not ws), frame)
                if peers is not None:
                    await peers.publish(name, frame)
    except ConnectionClosed:
        pass
    finally:
        room.leave(ws)
        if not room.clients:
            rooms.pop(name, None)


async def open_log(dsn: str) -> Log:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    with contextlib.suppress(psycopg.errors.UniqueViolation):  # another process's CREATE won
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bare_relay_update"
            " (id bigserial PRIMARY KEY, room text NOT NULL, body bytea NOT NULL)"
        )
    await conn.execute("TRUNCATE bare_relay_update")
    return Log(conn)


async def main(host: str, port: int, durable: str | None, redis_url: str | None) -> None:
    global log, peers
    if durable:
        log = await open_log(durable)
    if redis_url:
        peers = Peers(redis_url)
    async with serve(handle, host, port, compression=None, max_size=1 << 20, max_queue=None):
        if peers is not None:
            await peers.listen()  # for as long as the process runs
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--durable", metavar="DSN", help="commit every update to PostgreSQL first")
    parser.add_argument("--redis", metavar="URL", help="share rooms with other processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main(args.host, args.port, args.durable, args.redis))
