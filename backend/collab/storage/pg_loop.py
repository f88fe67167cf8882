"""Connections of our own to PostgreSQL on the event loop: one statement at a time each, kept
idle between statements.

A statement sent from the event loop waits for PostgreSQL without blocking the loop, and
without a hop to a database thread that has to win the GIL back from the loop for each step
of its query (``pg_commit`` says what that hop cost the rooms' commits). A connection is
checked as Django checks its own (``db.check_connection``): one unused for
``db.STALE_AFTER`` seconds answers a ``SELECT 1`` before it is trusted with a statement. A
connection whose statement failed or was cancelled is closed: what that statement did is
not known.

A connection older than ``CONN_MAX_AGE`` is renewed beside the path, not on it: it keeps
serving while its successor opens, runs ``setup`` and is warmed (``warm``), and it is
closed once the successor is idle. Opened on the path, a new commit connection cost the
commit that waited for it 6-9 ms alone (connecting 2-4 ms, then a new backend loading its
catalogs and planning the function's statements: a first call of 3.7-5.2 ms against 0.5-0.8
later), and with the default of 60 s that was a stall a minute: every one-process Tandem
run of the bench's 10-document fan-out had its largest delivery at 17.7-18.6 ms, 5.8-6.5 ms
once renewals left the path (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection

from backend.collab.storage.db import STALE_AFTER
from backend.collab.storage.pg_wire import WireCalls
from backend.db_connections import own_connection_params

logger = logging.getLogger(__name__)

Statement = tuple[str, tuple[object, ...]]


class _Connection:
    def __init__(self, conn: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop):
        self.conn = conn
        self.calls = WireCalls(conn)  # the statements, prepared, without a cursor
        self.loop = loop
        self.opened_at = self.used_at = time.monotonic()
        # Opening the connection that replaces this one (past CONN_MAX_AGE); once it is
        # done, this one is closed as it is next taken or given back.
        self.successor: asyncio.Task[None] | None = None

    @property
    def replaced(self) -> bool:
        return self.successor is not None and self.successor.done()


class LoopConnections:
    """Prepared statements on connections of the event loop; as many open as statements ran
    at once, at most, and a successor for each past ``CONN_MAX_AGE``.

    ``setup`` runs once on each new connection (a session setting); ``warm``, statements
    that change nothing, run once on each new connection before it is first used (not
    prepared: their parameters' types, and so their prepared names, may differ from the real
    statements'; the backend's catalogs and the plans of the functions they call are warm)."""

    def __init__(self, *, setup: str | None = None, warm: Sequence[Statement] = ()) -> None:
        self._setup = setup
        self._warm = warm
        self._idle: list[_Connection] = []
        self._renewals: set[asyncio.Task[None]] = set()
        self._opening: asyncio.Task[None] | None = None  # ``open_soon``'s

    async def fetch_all(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """The rows of ``sql``, prepared on the connection, with Django's exceptions."""
        held = await self._take()
        try:
            with connection.wrap_database_errors:  # Django's exceptions, as its thread raises
                rows = await held.calls.fetch_all(sql, params)
        except BaseException:
            await held.conn.close()  # the statement's fate is unknown: this connection is done
            raise
        held.used_at = time.monotonic()
        if held.replaced:  # its successor is idle
            await _close(held)
        else:
            self._idle.append(held)
        return rows

    async def close(self) -> None:
        """Close the idle connections and stop renewals (a statement still running closes
        its own as it ends)."""
        for renewal in list(self._renewals):
            renewal.cancel()
        await asyncio.gather(*self._renewals, return_exceptions=True)
        idle, self._idle = self._idle, []
        for held in idle:
            await _close(held)

    async def _take(self) -> _Connection:
        loop = asyncio.get_running_loop()
        max_age = connection.settings_dict["CONN_MAX_AGE"]
        while self._idle:
            held = self._idle.pop()
            if held.conn.closed or held.loop is not loop or held.replaced:
                await _close(held)
                continue
            now = time.monotonic()
            if held.successor is None and max_age is not None and now - held.opened_at >= max_age:
                held.successor = self._open_beside(held)
            if now - held.used_at < STALE_AFTER or await _answers(held.conn):
                return held
        if self._opening is not None and not self._opening.done():
            await asyncio.shield(self._opening)  # the connection ``open_soon`` opens
            return await self._take()
        return await self._open(loop)

    def open_soon(self) -> None:
        """Open a connection beside the path now, so that the first statement need not."""
        self._opening = self._open_beside(None)

    def _open_beside(self, old: _Connection | None) -> asyncio.Task[None]:
        """Open a connection (``old``'s successor, if given) that joins the idle ones when
        ready."""
        loop = asyncio.get_running_loop()

        async def open_idle() -> None:
            try:
                new = await self._open(loop)
            except Exception as exc:  # ``old`` serves on; renewed again at its next use
                logger.warning("could not open a database connection ahead of use: %s", exc)
                if old is not None:
                    old.successor = None
                return
            self._idle.append(new)
            if old in self._idle:  # idle: close it now; in use, it closes as it is given back
                self._idle.remove(old)
                await _close(old)

        task = asyncio.create_task(open_idle(), name="open a database connection")
        self._renewals.add(task)
        task.add_done_callback(self._renewals.discard)
        return task

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        with connection.wrap_database_errors:
            conn = await psycopg.AsyncConnection.connect(**own_connection_params(), autocommit=True)
            try:
                if self._setup is not None:
                    await conn.execute(self._setup)
                for sql, params in self._warm:
                    await conn.execute(sql, params, prepare=False)
            except BaseException:
                await conn.close()
                raise
        return _Connection(conn, loop)


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
