"""Statements run through libpq's connection without psycopg's cursor (``pg_wire``), as the
event loop's connections run them: errors as Django's, a failed connection closed, large
parameters written whole, and each set of parameter types prepared on its own."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.db import DataError, connections

from backend.collab.core.ports import PendingWrite
from backend.collab.models import DocumentUpdate
from backend.collab.storage import pg_commit
from backend.collab.storage.pg_loop import LoopConnections
from backend.collab.storage.pg_wire import WireCalls
from tests.support.factories import make_document


@pytest.fixture(autouse=True)
async def database(transactional_db: None) -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


async def test_a_failing_statement_raises_djangos_error_and_its_connection_is_closed() -> None:
    loop_connections = LoopConnections()
    assert await loop_connections.fetch_all("SELECT %b::int + 1", (1,)) == [(2,)]
    (held,) = loop_connections._idle
    with pytest.raises(DataError, match="division by zero"):
        await loop_connections.fetch_all("SELECT 1 / %b::int", (0,))
    assert held.conn.closed
    assert loop_connections._idle == []
    assert await loop_connections.fetch_all("SELECT 1 / %b::int", (1,)) == [(1,)]
    await loop_connections.close()


async def test_the_same_statement_with_other_parameter_types_is_prepared_again() -> None:
    loop_connections = LoopConnections()
    assert await loop_connections.fetch_all("SELECT %b, %b", (7, "seven")) == [(7, "seven")]
    assert await loop_connections.fetch_all("SELECT %b, %b", ("7", None)) == [("7", None)]
    assert await loop_connections.fetch_all("SELECT %b, %b", (7, "again")) == [(7, "again")]
    (held,) = loop_connections._idle
    cursor = await held.conn.execute("SELECT count(*) FROM pg_prepared_statements")
    assert await cursor.fetchone() == (2,)
    await loop_connections.close()


async def test_a_write_of_several_megabytes_is_stored_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits_to_write = []
    ready = WireCalls._ready

    async def counted(self: WireCalls, *, writing: bool) -> None:
        waits_to_write.append(writing)
        await ready(self, writing=writing)

    monkeypatch.setattr(WireCalls, "_ready", counted)
    document = await sync_to_async(make_document)()
    paste = os.urandom(6 * 1024 * 1024)  # more than a socket takes in one write
    commits = pg_commit.LoopCommits()
    await commits([(document.pk, [PendingWrite(b"before", None)])])
    await commits([(document.pk, [PendingWrite(paste, None), PendingWrite(b"after", None)])])
    stored = await sync_to_async(
        lambda: [bytes(row.update) for row in DocumentUpdate.objects.order_by("seq")]
    )()
    assert stored == [b"before", paste, b"after"]
    assert any(waits_to_write)  # the socket took the call in several writes
    await commits.close()
