"""The database thread's connection: health-checked only after a pause, and a connection the
database ended between calls costs at most the first call after it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, connections

from backend.collab.storage import db
from backend.collab.storage.db import in_db_thread

T = TypeVar("T")


def observe(function: Callable[[int], T]) -> Callable[[int], Awaitable[T]]:
    """``function`` on a thread and connection of its own (not the database thread's),
    closed after it."""

    def call(pid: int) -> T:
        try:
            return function(pid)
        finally:
            connection.close()

    return sync_to_async(call, thread_sensitive=False)


@pytest.fixture(autouse=True)
async def database(transactional_db: None) -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


def _own_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() /* tandem-test */")
        (pid,) = cursor.fetchone()
    return int(pid)


def _open_cursor() -> None:
    """What every ORM call does first: Django runs its health check, if due, here."""
    with connection.cursor():
        pass


def _last_query(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        (query,) = cursor.fetchone()
    return str(query)


def _end_session(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


async def test_a_busy_connection_skips_the_health_check_and_an_idle_one_takes_it() -> None:
    pid = await in_db_thread(_own_pid)()
    await in_db_thread(_open_cursor)()  # moments after a query: no round trip
    assert "tandem-test" in await observe(_last_query)(pid)
    time.sleep(db.STALE_AFTER + 0.1)  # noqa: ASYNC251  # the database thread must sit idle
    await in_db_thread(_open_cursor)()
    assert await observe(_last_query)(pid) == "SELECT 1"


async def test_calls_go_on_after_the_database_ends_the_connection() -> None:
    pid = await in_db_thread(_own_pid)()
    await observe(_end_session)(pid)
    with pytest.raises(DatabaseError):  # checked moments ago, so the break shows here, once
        await in_db_thread(_own_pid)()
    assert await in_db_thread(_own_pid)() != pid
