"""The commit connection, checked only after a pause or an error: a connection the database
ended between batches costs at most the first append after it, and nothing acknowledged is
lost. A cancelled commit closes its connection; ``CONN_MAX_AGE`` bounds a connection's life,
and its successor opens beside the path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, connections

from backend.collab.core.ports import PendingWrite
from backend.collab.models import DocumentUpdate
from backend.collab.storage import pg_commit, pg_loop
from backend.collab.storage.store import DjangoUpdateStore
from tests.support.factories import make_document


@pytest.fixture(autouse=True)
async def database(transactional_db: None) -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


def _commit_sessions(earlier: frozenset[int] = frozenset()) -> set[int]:
    """The sessions whose last query was an append (``pg_append``'s call), less ``earlier``:
    those of tests before, whose event loops have ended but whose connections may not have
    been collected yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND query LIKE 'SELECT * FROM collab_append_update%%'"
        )
        return {pid for (pid,) in cursor.fetchall()} - earlier


def _end_commit_connection(earlier: frozenset[int]) -> int:
    """End this test's commit sessions; how many there were."""
    sessions = _commit_sessions(earlier)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(sessions)]
        )
    return len(sessions)


@pytest.fixture
async def earlier() -> frozenset[int]:
    return frozenset(await sync_to_async(_commit_sessions)())


def _seqs(document_id: Any) -> list[int]:
    rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("seq")
    return list(rows.values_list("seq", flat=True))


async def test_appends_go_on_after_the_database_ends_the_connection(
    settings: Any, earlier: frozenset[int]
) -> None:
    settings.COMMIT_CONNECTIONS = 1  # one commit connection, the one the test ends
    document = await sync_to_async(make_document)()
    store = DjangoUpdateStore()
    assert await store.append(document.pk, [PendingWrite(b"first", None)]) is not None
    assert await sync_to_async(_end_commit_connection)(earlier) == 1
    acknowledged = 1
    with contextlib.suppress(DatabaseError):  # the first after the break may fail, alone
        await store.append(document.pk, [PendingWrite(b"second", None)])
        acknowledged += 1
    await store.append(document.pk, [PendingWrite(b"third", None)])
    # Two waiting together after another break: group commit retries them one by one.
    assert await sync_to_async(_end_commit_connection)(earlier) == 1
    await asyncio.gather(
        store.append(document.pk, [PendingWrite(b"fourth", None)]),
        store.append(document.pk, [PendingWrite(b"fifth", None)]),
    )
    await store.append(document.pk, [PendingWrite(b"sixth", None)])
    assert await sync_to_async(_seqs)(document.pk) == list(range(1, acknowledged + 5))


async def test_a_connection_ended_during_a_pause_is_replaced_before_the_next_commit(
    monkeypatch: pytest.MonkeyPatch, earlier: frozenset[int]
) -> None:
    monkeypatch.setattr(pg_loop, "STALE_AFTER", 0.0)  # every pause is long enough
    document = await sync_to_async(make_document)()
    store = DjangoUpdateStore()
    await store.append(document.pk, [PendingWrite(b"first", None)])
    assert await sync_to_async(_end_commit_connection)(earlier) == 1
    await store.append(document.pk, [PendingWrite(b"second", None)])  # no error: checked first
    assert await sync_to_async(_seqs)(document.pk) == [1, 2]
    await store.close()


async def test_a_cancelled_commit_leaves_its_connection_unused_and_stores_at_most_once(
    earlier: frozenset[int],
) -> None:
    document = await sync_to_async(make_document)()
    commits = pg_commit.LoopCommits()  # what the group commit's task runs, cancelled at exit
    await commits([(document.pk, [PendingWrite(b"first", None)])])
    for ticks in range(6):  # cancelled before, while and after the call is sent
        commit = asyncio.ensure_future(commits([(document.pk, [PendingWrite(b"x", None)])]))
        for _ in range(ticks):
            await asyncio.sleep(0)
        commit.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await commit
    await commits([(document.pk, [PendingWrite(b"last", None)])])
    seqs = await sync_to_async(_seqs)(document.pk)
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free, whatever the cancels stored
    assert len(await sync_to_async(_commit_sessions)(earlier)) == 1  # the cancelled ones are closed
    await commits.close()


async def _eventually(ready: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait up to 5 s for ``ready`` (a connection opened beside the path joins, and the one
    it replaces leaves, a little after the append that started it)."""
    for _ in range(500):
        if await ready():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"waited 5 s for {what}")


async def test_a_commit_connection_past_conn_max_age_is_renewed_beside_the_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, earlier: frozenset[int]
) -> None:
    document = await sync_to_async(make_document)()
    store = DjangoUpdateStore()
    await store.append(document.pk, [PendingWrite(b"first", None)])
    (first,) = await sync_to_async(_commit_sessions)(earlier)
    await store.append(document.pk, [PendingWrite(b"kept", None)])
    assert await sync_to_async(_commit_sessions)(earlier) == {first}  # young enough: kept
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    # Past its age, the connection still commits while its successor opens: here the
    # successor cannot connect, and no append waits for it or fails with it.
    reachable = pg_loop.own_connection_params
    monkeypatch.setattr(pg_loop, "own_connection_params", lambda: {**reachable(), "port": 1})
    await store.append(document.pk, [PendingWrite(b"unrenewed", None)])
    failed = "could not open a database connection ahead of use"

    async def renewal_failed() -> bool:
        return failed in caplog.text

    await _eventually(renewal_failed, "the failed renewal's warning")
    assert await sync_to_async(_commit_sessions)(earlier) == {first}
    # Renewed at its next use; the successor then takes its place and the old one is closed.
    monkeypatch.setattr(pg_loop, "own_connection_params", reachable)
    await store.append(document.pk, [PendingWrite(b"renewing", None)])
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)

    async def replaced() -> bool:
        now = await sync_to_async(_commit_sessions)(earlier)
        return len(now) == 1 and first not in now

    await _eventually(replaced, "the successor alone")
    (successor,) = await sync_to_async(_commit_sessions)(earlier)
    await store.append(document.pk, [PendingWrite(b"renewed", None)])
    assert await sync_to_async(_commit_sessions)(earlier) == {successor}
    assert await sync_to_async(_seqs)(document.pk) == [1, 2, 3, 4, 5]
    await store.close()


async def test_the_first_commit_takes_the_connection_opened_ahead_of_it(
    earlier: frozenset[int],
) -> None:
    document = await sync_to_async(make_document)()
    store = DjangoUpdateStore()
    store.open_soon()  # as the runtime does when it starts
    await store.append(document.pk, [PendingWrite(b"first", None)])  # waits for it, opens none
    assert len(await sync_to_async(_commit_sessions)(earlier)) == 1
    assert await sync_to_async(_seqs)(document.pk) == [1]  # the warming call stored nothing
    await store.close()


async def test_the_commit_statement_is_prepared_once_with_one_plan() -> None:
    document = await sync_to_async(make_document)()
    commits = pg_commit.LoopCommits()
    for _ in range(3):
        await commits([(document.pk, [PendingWrite(b"x", None)])])
    (held,) = commits._connections._idle  # the one connection the three commits took in turn
    cursor = await held.conn.execute(
        "SELECT count(*), current_setting('plan_cache_mode') FROM pg_prepared_statements"
    )
    assert await cursor.fetchone() == (1, "force_generic_plan")
    await commits.close()
