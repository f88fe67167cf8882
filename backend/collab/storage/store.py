"""Where rooms keep their updates: the core's ``UpdateStore`` over Django's database.

``DjangoUpdateStore`` runs the synchronous log functions of ``update_log`` in the database
threads of ``db`` so the event loop never blocks on the database; on PostgreSQL the rooms'
commits run on the event loop itself, over connections that do not block it (``pg_commit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from backend.collab.core.ports import Appended, LoadedLog, PendingWrite, StoredUpdate, UpdateStore
from backend.collab.storage import update_log
from backend.collab.storage.db import checked, in_db_thread
from backend.collab.storage.group_commit import Batch, CommitBatch, GroupCommit
from backend.collab.storage.pg_commit import LoopCommits


class DjangoUpdateStore(UpdateStore):
    """The log in Django's database. Appends of all rooms share transactions (group commit)
    on connections of their own (``COMMIT_CONNECTIONS`` of them), so commits never queue
    behind reads: on PostgreSQL on the event loop (``pg_commit``), a batch with mentions and
    SQLite's on a thread."""

    def __init__(self) -> None:
        commit: CommitBatch
        parallel = 1
        self._loop_commits: LoopCommits | None = None
        if connection.vendor == "sqlite":
            commit = in_db_thread(update_log.append_batch)  # SQLite: one writer at a time
        else:
            parallel = max(1, settings.COMMIT_CONNECTIONS)
            threads = ThreadPoolExecutor(parallel, thread_name_prefix="tandem-commit")
            # Each commit thread has its own connection, checked as the database thread's is.
            in_thread = sync_to_async(
                checked(update_log.append_batch), thread_sensitive=False, executor=threads
            )
            on_loop = self._loop_commits = LoopCommits()

            async def commit(batch: Batch) -> list[Appended | None]:
                if any(write.mentions for _, writes in batch for write in writes):
                    return await in_thread(batch)  # their signal is sent in the transaction
                return await on_loop(batch)

        self._appends = GroupCommit(commit, parallel=parallel)

    def open_soon(self) -> None:
        """Open the event loop's commit connection now, so that the first commit need not
        (PostgreSQL; nothing on SQLite)."""
        if self._loop_commits is not None:
            self._loop_commits.open_soon()

    async def close(self) -> None:
        """Close the commit connections of the event loop (process shutdown)."""
        if self._loop_commits is not None:
            await self._loop_commits.close()

    async def load(self, document_id: uuid.UUID) -> LoadedLog:
        return await in_db_thread(update_log.load)(document_id)

    async def append(self, document_id: uuid.UUID, writes: Sequence[PendingWrite]) -> Appended:
        return await self._appends.append(document_id, list(writes))

    async def updates_after(
        self, document_id: uuid.UUID, seq: int, upto: int | None = None
    ) -> list[StoredUpdate]:
        return await in_db_thread(update_log.updates_after)(document_id, seq, upto)

    async def heads(self, document_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        return await in_db_thread(update_log.heads)(document_ids)

    async def save_snapshot(self, document_id: uuid.UUID, seq: int, state: bytes) -> None:
        await in_db_thread(update_log.save_snapshot)(document_id, seq, state)
