"""Group commit against the real database: appends of several rooms that wait together share
one transaction, and one room's failure does not fail the others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from pycrdt import Doc, Text

from backend.collab.core.ports import Appended, PendingWrite
from backend.collab.models import DocumentUpdate
from backend.collab.storage import update_log
from backend.collab.storage.group_commit import Batch, GroupCommit
from backend.documents.errors import DocumentNotFound
from backend.documents.models import Document
from tests.support.factories import make_document, make_user


@pytest.fixture(autouse=True)
async def database(transactional_db: None) -> AsyncIterator[None]:
    yield
    # The ORM calls ran in asgiref's thread: close its connection there.
    await sync_to_async(connections.close_all)()


class CountedCommit:
    """``update_log.append_batch`` in a database thread, recording each batch's size."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self._commit = sync_to_async(update_log.append_batch)

    async def __call__(self, batch: Batch) -> list[Appended | None]:
        self.batches.append(len(batch))
        return await self._commit(batch)


def _write(text: str, author_id: int | None = None) -> list[PendingWrite]:
    doc: Doc[Any] = Doc()
    doc.get("t", type=Text).insert(0, text)
    return [PendingWrite(doc.get_update(), author_id)]


def _documents(count: int) -> list[uuid.UUID]:
    owner = make_user()
    return [make_document(owner=owner).id for _ in range(count)]


def _stored(document_ids: list[uuid.UUID]) -> list[tuple[int, int]]:
    """(head_seq, rows in the log) per document."""
    return [
        (
            Document.objects.get(pk=d).head_seq,
            DocumentUpdate.objects.filter(document_id=d).count(),
        )
        for d in document_ids
    ]


async def test_appends_waiting_together_share_one_transaction() -> None:
    commit = CountedCommit()
    group = GroupCommit(commit)
    documents = await sync_to_async(_documents)(5)
    results = await asyncio.gather(
        *(group.append(d, _write(f"{d} {n}")) for n in range(2) for d in documents)
    )
    assert sorted(r.previous for r in results) == [0] * 5 + [1] * 5
    assert sum(commit.batches) == 10
    assert len(commit.batches) < 10, f"no batching: {commit.batches}"
    assert await sync_to_async(_stored)(documents) == [(2, 2)] * 5


async def test_a_deleted_document_fails_alone() -> None:
    group = GroupCommit(CountedCommit())
    documents = await sync_to_async(_documents)(3)
    await sync_to_async(Document.objects.filter(pk=documents[1]).delete)()
    results = await asyncio.gather(
        *(group.append(d, _write("x")) for d in documents), return_exceptions=True
    )
    assert (results[0], results[2]) == (Appended(0), Appended(0))
    assert isinstance(results[1], DocumentNotFound)
    assert await sync_to_async(_stored)([documents[0], documents[2]]) == [(1, 1)] * 2


async def test_a_write_the_database_refuses_fails_alone() -> None:
    commit = CountedCommit()
    group = GroupCommit(commit)
    documents = await sync_to_async(_documents)(3)
    # A row at the next sequence number that the head does not count (as a damaged log
    # would hold): the unique (document, seq) constraint refuses the append.
    await sync_to_async(DocumentUpdate.objects.create)(document_id=documents[1], seq=1, update=b"")
    results = await asyncio.gather(
        group.append(documents[0], _write("a")),
        group.append(documents[1], _write("b")),
        group.append(documents[2], _write("c")),
        return_exceptions=True,
    )
    assert (results[0], results[2]) == (Appended(0), Appended(0))
    assert isinstance(results[1], Exception)
    assert not isinstance(results[1], DocumentNotFound)
    assert commit.batches[0] == 3, "the three appends were not batched; the test proves nothing"
    stored = await sync_to_async(_stored)(documents)
    assert stored == [(1, 1), (0, 1), (1, 1)]


async def test_writes_of_an_author_who_lost_the_role_are_refused_alone() -> None:
    group = GroupCommit(CountedCommit())
    (document_id,) = await sync_to_async(_documents)(1)
    former = await sync_to_async(make_user)()
    results = await asyncio.gather(
        group.append(document_id, _write("a write of no author")),
        group.append(document_id, _write("former member's", author_id=former.pk)),
    )
    assert [r.refused for r in results if r.refused] == [frozenset({former.pk})]
    assert await sync_to_async(_stored)([document_id]) == [(1, 1)]


class SlowCommit(CountedCommit):
    """``CountedCommit`` that records which documents each batch held, and holds each batch
    a little, so that appends arriving meanwhile meet a running commit."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[set[uuid.UUID]] = []
        self.running = 0
        self.most_running = 0

    async def __call__(self, batch: Batch) -> list[Appended | None]:
        self.documents.append({document_id for document_id, _ in batch})
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(0.05)
            return await super().__call__(batch)
        finally:
            self.running -= 1


async def test_parallel_commits_keep_each_documents_order() -> None:
    """Two batches commit at once, never with the same document in both: one document's
    appends commit in the order they came, each after the one before."""
    commit = SlowCommit()
    group = GroupCommit(commit, parallel=2)
    first, second, third = await sync_to_async(_documents)(3)
    order: list[uuid.UUID] = []
    appends = []
    for n in range(6):  # rounds 20 ms apart, while each commit takes 50 ms
        for document in (first, first, second if n % 2 else third):
            order.append(document)
            appends.append(asyncio.create_task(group.append(document, _write(f"{n}"))))
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*appends)
    assert commit.most_running == 2, "no two commits ran at once; the test proves nothing"
    assert not any(a & b for a, b in zip(commit.documents, commit.documents[1:], strict=False))
    of_first = [r.previous for r, d in zip(results, order, strict=True) if d == first]
    assert of_first == list(range(12)), "the first document's appends committed out of order"
    assert await sync_to_async(_stored)([first, second, third]) == [(12, 12), (3, 3), (3, 3)]
