"""Group commit across the rooms of one process: one transaction for what arrives together.

Every room waits for its own writes to commit before it broadcasts them. Committing each
room's writes in a transaction of its own costs one disk flush per room per batch, and the
flushes queue behind each other; here the writes of every room that are waiting while a
commit runs go into the next transaction together, so a busy process pays one flush for
many rooms, and a quiet one commits at once.

Up to ``parallel`` batches commit at once (each on a connection of its own): a write that
arrives while one commit runs need not wait for it to end. A document is in one running
batch at most, so the appends of one document still commit in the order they came.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from backend.collab.core.ports import Appended, PendingWrite
from backend.documents.errors import DocumentNotFound

Batch = list[tuple[uuid.UUID, list[PendingWrite]]]
CommitBatch = Callable[[Batch], Awaitable[list[Appended | None]]]


@dataclass(frozen=True)
class _Request:
    document_id: uuid.UUID
    writes: list[PendingWrite]
    done: asyncio.Future[Appended]


class GroupCommit:
    """Collects appends and commits them in batches of at most ``max_writes`` writes."""

    def __init__(self, commit: CommitBatch, *, max_writes: int = 4096, parallel: int = 1) -> None:
        self._commit = commit
        self._max_writes = max_writes
        self._parallel = parallel
        self._waiting: list[_Request] = []
        self._committing: set[uuid.UUID] = set()  # documents in a running batch
        self._committers: set[asyncio.Task[None]] = set()  # held until done
        self._running = 0

    async def append(self, document_id: uuid.UUID, writes: list[PendingWrite]) -> Appended:
        """Commit ``writes`` (see ``update_log.append_batch``)."""
        done: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(document_id, writes, done))
        if self._running < self._parallel:
            self._running += 1  # counted here and uncounted as ``_run`` returns: no gap
            committer = asyncio.create_task(self._run(), name="group commit")
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        return await done

    async def _run(self) -> None:
        try:
            while batch := self._take():
                await self._commit_taken(batch)
        finally:
            self._running -= 1

    async def _commit_taken(self, batch: list[_Request]) -> None:
        documents = {request.document_id for request in batch}
        self._committing |= documents
        try:
            await self._commit_batch(batch)
        except asyncio.CancelledError:
            for request in batch + self._waiting:
                request.done.cancel()
            self._waiting = []
            raise
        finally:
            self._committing -= documents

    async def _commit_batch(self, batch: list[_Request]) -> None:
        try:
            results = await self._commit([(r.document_id, r.writes) for r in batch])
        except Exception as exc:
            if len(batch) > 1:
                # One room's bad write must not fail the others: commit them one by one.
                for request in batch:
                    await self._commit_batch([request])
                return
            if not batch[0].done.done():
                batch[0].done.set_exception(exc)  # the room closes its sockets with 1013
            return
        for request, appended in zip(batch, results, strict=True):
            if request.done.done():
                continue  # its room stopped waiting (shutdown); the writes are stored
            if appended is None:
                request.done.set_exception(DocumentNotFound())
            else:
                request.done.set_result(appended)

    def _take(self) -> list[_Request]:
        """The next batch: waiting requests in order, up to ``max_writes`` writes, leaving
        those of documents another batch is committing (and so all their later ones)."""
        batch: list[_Request] = []
        left: list[_Request] = []
        count = 0
        for index, request in enumerate(self._waiting):
            if request.document_id in self._committing:
                left.append(request)
                continue
            if batch and count + len(request.writes) > self._max_writes:
                left += self._waiting[index:]
                break
            batch.append(request)
            count += len(request.writes)
        self._waiting = left
        return batch
