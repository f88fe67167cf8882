"""Prepared statements sent through libpq's own connection object (psycopg's ``pgconn``),
without psycopg's cursor: the commit's one round trip with less Python around it.

A cursor's ``execute`` does per call what a statement run again and again on one connection
need not: it parses the query for placeholders, keys it in the connection's prepared
statement cache, runs psycopg's wait machinery for each step, and builds a result object.
``WireCalls`` converts each statement once per connection, prepares it at its first call,
then per call only dumps the parameters with the connection's adapters (a ``Transformer``
kept for the connection's life), sends ``Bind``/``Execute``/``Sync``, flushes, waits for the
socket with the event loop and loads the rows. Against the cursor (docs/performance.md,
run AA's section): the client's CPU per append 200 -> 144 us 10 ms apart (the fan-out's
pace) and 90 -> 71 us back to back; in the 100-document fan-out, 9-14 % less server CPU and
6-16 % less p99 in three runs against a server that kept the cursor.

The protocol is libpq's, as psycopg's own generators drive it: flush until the output is
written (a megabyte paste takes several socket writes), then consume input until libpq is
no longer busy and take results until there is none. Statements are written with ``%b``
placeholders, as for a cursor (and no other ``%``), and sent with binary parameters and
binary results. An error result raises psycopg's exception for its SQLSTATE; any failure
or cancellation leaves the connection in an unknown state, and the caller (``pg_loop``)
closes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, Format

_PLACEHOLDER = "%b"


class WireCalls:
    """Prepared statements on one ``psycopg.AsyncConnection``, run through its ``pgconn``.

    One call at a time (``pg_loop`` holds a connection for one statement); not for a
    connection that psycopg is using at the same time."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._transformer = Transformer(conn)
        self._prepared: dict[tuple[str, tuple[int, ...]], bytes] = {}  # (sql, types) -> name

    async def fetch_all(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` run prepared with ``params`` (in its own implicit transaction,
        committed at its ``Sync``, when the connection is in autocommit)."""
        pgconn = self._conn.pgconn
        transformer = self._transformer
        values = transformer.dump_sequence(params, [PyFormat.BINARY] * len(params))
        types = transformer.types or ()  # the oids dump_sequence chose
        name = await self._prepared_name(sql, types)
        pgconn.send_query_prepared(
            name, values, param_formats=[Format.BINARY] * len(values), result_format=Format.BINARY
        )
        result = await self._result()
        transformer.set_pgresult(result)
        return transformer.load_rows(0, result.ntuples, tuple)

    async def _prepared_name(self, sql: str, types: tuple[int, ...]) -> bytes:
        """The name ``sql`` is prepared under with parameters of ``types``; prepared now
        at its first call on this connection."""
        name = self._prepared.get((sql, types))
        if name is None:
            name = f"tandem_{len(self._prepared)}".encode()
            self._conn.pgconn.send_prepare(name, _numbered(sql), param_types=types)
            await self._result(ExecStatus.COMMAND_OK)
            self._prepared[sql, types] = name
        return name

    async def _result(self, expected: ExecStatus = ExecStatus.TUPLES_OK) -> Any:
        """Flush what was sent, then the one result of the statement (an error result
        raised as psycopg's exception)."""
        pgconn = self._conn.pgconn
        while pgconn.flush():
            await self._ready(writing=True)
        results = []
        while True:
            while pgconn.is_busy():
                await self._ready(writing=False)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            results.append(result)
        for result in results:
            if result.status == ExecStatus.FATAL_ERROR:
                raise errors.error_from_result(result, encoding=self._conn.info.encoding)
        if len(results) != 1 or results[0].status != expected:
            statuses = [ExecStatus(r.status).name for r in results]
            raise psycopg.InternalError(f"expected one {expected.name} result, got {statuses}")
        return results[0]

    async def _ready(self, *, writing: bool) -> None:
        """Wait until the connection's socket can be written (``writing``) or read."""
        loop = asyncio.get_running_loop()
        fileno = self._conn.pgconn.socket
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if writing:
            loop.add_writer(fileno, wake)
        else:
            loop.add_reader(fileno, wake)
        try:
            await ready
        finally:
            if writing:
                loop.remove_writer(fileno)
            else:
                loop.remove_reader(fileno)


def _numbered(sql: str) -> bytes:
    """``sql`` with its ``%b`` placeholders numbered as PostgreSQL's ``$1``, ``$2``..."""
    pieces = sql.split(_PLACEHOLDER)
    numbered = [pieces[0]]
    for number, piece in enumerate(pieces[1:], start=1):
        numbered.append(f"${number}{piece}")
    return "".join(numbered).encode()
