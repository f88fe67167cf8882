"""The commit thread's connection, checked only after a pause or an error: a connection the
database ended between batches costs at most the first append after it, and nothing
acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, connections

from backend.collab.core.ports import PendingWrite
from backend.collab.models import DocumentUpdate
from backend.collab.storage.store import DjangoUpdateStore
from tests.support.factories import make_document


@pytest.fixture(autouse=True)
async def database(transactional_db: None) -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


def _end_commit_connection() -> int:
    """End the session whose last query ended an append's pipeline (the commit thread's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query LIKE 'WITH w AS (%%'"  # pg_append's second statement
        )
        (ended,) = cursor.fetchone()
    return int(ended)


def _seqs(document_id: Any) -> list[int]:
    rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("seq")
    return list(rows.values_list("seq", flat=True))


async def test_appends_go_on_after_the_database_ends_the_connection(settings: Any) -> None:
    settings.COMMIT_CONNECTIONS = 1  # one commit connection, the one the test ends
    document = await sync_to_async(make_document)()
    store = DjangoUpdateStore()
    assert await store.append(document.pk, [PendingWrite(b"first", None)]) is not None
    assert await sync_to_async(_end_commit_connection)() == 1
    acknowledged = 1
    with contextlib.suppress(DatabaseError):  # the first after the break may fail, alone
        await store.append(document.pk, [PendingWrite(b"second", None)])
        acknowledged += 1
    await store.append(document.pk, [PendingWrite(b"third", None)])
    # Two waiting together after another break: group commit retries them one by one.
    assert await sync_to_async(_end_commit_connection)() == 1
    await asyncio.gather(
        store.append(document.pk, [PendingWrite(b"fourth", None)]),
        store.append(document.pk, [PendingWrite(b"fifth", None)]),
    )
    await store.append(document.pk, [PendingWrite(b"sixth", None)])
    assert await sync_to_async(_seqs)(document.pk) == list(range(1, acknowledged + 5))
