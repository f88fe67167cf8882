"""Where rooms keep their updates: the core's ``UpdateStore`` over Django's database.

``DjangoUpdateStore`` runs the synchronous log functions of ``update_log`` in the database
threads of ``db`` so the event loop never blocks on the database.
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
from backend.collab.storage.group_commit import CommitBatch, GroupCommit


class DjangoUpdateStore(UpdateStore):
    """The log in Django's database. Appends of all rooms share transactions (group commit)
    on threads and connections of their own (``COMMIT_CONNECTIONS`` of them), so commits
    never queue behind reads."""

    def __init__(self) -> None:
        commit: CommitBatch
        parallel = 1
        if connection.vendor == "sqlite":
            commit = in_db_thread(update_log.append_batch)  # SQLite: one writer at a time
        else:
            parallel = max(1, settings.COMMIT_CONNECTIONS)
            threads = ThreadPoolExecutor(parallel, thread_name_prefix="tandem-commit")
            # Each commit thread has its own connection, checked as the database thread's is.
            commit = sync_to_async(
                checked(update_log.append_batch), thread_sensitive=False, executor=threads
            )
        self._appends = GroupCommit(commit, parallel=parallel)

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
