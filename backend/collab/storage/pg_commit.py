"""The group commit's appends on PostgreSQL, run on the event loop over psycopg's async
connections: no thread between a room and its commit.

The rooms' commits went through a thread of their own (``sync_to_async`` with Django's
connection). At 100 busy documents on the 2-core bench machine the hop cost a third of each
commit: 0.23 ms (p99 1.1 ms) to start on the thread, which waits for the GIL the event loop
holds, and 0.1 ms back. With one commit running at a time that made the committer busy
three quarters of the time, and a room's update waited for the commit before its own:
fan-out p99 12.8-15.1 ms. On the loop, prepared and with one plan (``_take``), the fan-out's
p99 was 4.7-5.2 ms, and the server's CPU a fifth less (docs/performance.md).

The statement and its reading are ``pg_append``'s (one round trip, prepared); a batch
with mentions still goes to the thread, where ``update_log`` sends their signal in the
transaction. Each commit takes an idle connection or opens one: ``GroupCommit`` runs at most
``COMMIT_CONNECTIONS`` at once, so that many are open at most. A connection is checked as
Django checks its own (``db.check_connection``): one unused for ``db.STALE_AFTER`` seconds
answers a ``SELECT 1`` before it is trusted with a commit, and one older than
``CONN_MAX_AGE`` is closed. A connection that failed, or whose commit was cancelled, is
closed: whether that commit happened is not known, and the room that waited on it closes
its sockets (1013) so its clients resync from the log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from django.db import connection

from backend.collab.core.ports import Appended
from backend.collab.storage import pg_append
from backend.collab.storage.db import STALE_AFTER
from backend.collab.storage.group_commit import Batch
from backend.db_connections import own_connection_params


class _Connection:
    def __init__(self, conn: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop):
        self.conn = conn
        self.loop = loop
        self.opened_at = self.used_at = time.monotonic()


class LoopCommits:
    """``pg_append.append_batch`` as a coroutine, for ``GroupCommit``."""

    def __init__(self) -> None:
        self._idle: list[_Connection] = []

    async def __call__(self, batch: Batch) -> list[Appended | None]:
        sql, params = pg_append.statement_for(batch)
        held = await self._take()
        try:
            with connection.wrap_database_errors:  # Django's exceptions, as the thread raised
                async with psycopg.AsyncCursor(held.conn) as cursor:
                    await cursor.execute(sql, params, prepare=True)
                    rows = await cursor.fetchall()
        except BaseException:
            await held.conn.close()  # the commit's fate is unknown: this connection is done
            raise
        held.used_at = time.monotonic()
        self._idle.append(held)
        return pg_append.appended_from(batch, rows)

    async def close(self) -> None:
        """Close the idle connections (a commit still running closes its own as it ends)."""
        idle, self._idle = self._idle, []
        for held in idle:
            await _close(held)

    async def _take(self) -> _Connection:
        loop = asyncio.get_running_loop()
        max_age = connection.settings_dict["CONN_MAX_AGE"]
        while self._idle:
            held = self._idle.pop()
            now = time.monotonic()
            obsolete = max_age is not None and now - held.opened_at >= max_age
            if held.conn.closed or held.loop is not loop or obsolete:
                await _close(held)
            elif now - held.used_at < STALE_AFTER or await _answers(held.conn):
                return held
        with connection.wrap_database_errors:
            conn = await psycopg.AsyncConnection.connect(**_connect_params(), autocommit=True)
            # One plan per connection for the append function's statements: PostgreSQL's
            # default planned the judging one afresh at every commit (0.2 ms of 0.8; large
            # batches as fast).
            await conn.execute("SET plan_cache_mode = force_generic_plan")
        return _Connection(conn, loop)


def _connect_params() -> dict[str, Any]:
    """A commit connection's parameters: Django's own, with prepared statements on."""
    params = own_connection_params()
    params["prepare_threshold"] = 5  # Django's None turns off even ``prepare=True``
    return params


async def _answers(conn: psycopg.AsyncConnection[Any]) -> bool:
    try:
        await conn.execute("SELECT 1")
    except psycopg.Error:
        await conn.close()
        return False
    return True


async def _close(held: _Connection) -> None:
    if held.loop is asyncio.get_running_loop():
        await held.conn.close()
    else:  # opened on an event loop that has ended (tests run one per test)
        held.conn.pgconn.finish()
