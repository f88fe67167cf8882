"""Connections of our own to PostgreSQL on the event loop: one statement at a time each, kept
idle between statements.

A statement sent from the event loop waits for PostgreSQL without blocking the loop, and
without a hop to a database thread that has to win the GIL back from the loop for each step
of its query (``pg_commit`` says what that hop cost the rooms' commits). A connection is
checked as Django checks its own (``db.check_connection``): one unused for
``db.STALE_AFTER`` seconds answers a ``SELECT 1`` before it is trusted with a statement, and
one older than ``CONN_MAX_AGE`` is closed. A connection whose statement failed or was
cancelled is closed: what that statement did is not known.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from django.db import connection

from backend.collab.storage.db import STALE_AFTER
from backend.db_connections import own_connection_params


class _Connection:
    def __init__(self, conn: psycopg.AsyncConnection[Any], loop: asyncio.AbstractEventLoop):
        self.conn = conn
        self.loop = loop
        self.opened_at = self.used_at = time.monotonic()


class LoopConnections:
    """Prepared statements on connections of the event loop; as many open as statements ran
    at once, at most.

    ``setup`` runs once on each new connection (a session setting)."""

    def __init__(self, *, setup: str | None = None) -> None:
        self._setup = setup
        self._idle: list[_Connection] = []

    async def fetch_all(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        """The rows of ``sql``, prepared on the connection, with Django's exceptions."""
        held = await self._take()
        try:
            with connection.wrap_database_errors:  # Django's exceptions, as its thread raises
                async with psycopg.AsyncCursor(held.conn) as cursor:
                    await cursor.execute(sql, params, prepare=True)
                    rows = await cursor.fetchall()
        except BaseException:
            await held.conn.close()  # the statement's fate is unknown: this connection is done
            raise
        held.used_at = time.monotonic()
        self._idle.append(held)
        return rows

    async def close(self) -> None:
        """Close the idle connections (a statement still running closes its own as it ends)."""
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
            if self._setup is not None:
                await conn.execute(self._setup)
        return _Connection(conn, loop)


def _connect_params() -> dict[str, Any]:
    """A loop connection's parameters: Django's own, with prepared statements on."""
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
