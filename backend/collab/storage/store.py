"""Where rooms keep their updates: the core's ``UpdateStore`` over Django's database.

``DjangoUpdateStore`` runs the synchronous log functions of ``update_log`` through
``database_sync_to_async`` so the event loop never blocks on the database.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from backend.collab.core.ports import Appended, LoadedLog, PendingWrite, StoredUpdate, UpdateStore
from backend.collab.storage import update_log
from backend.collab.storage.db import in_db_thread
from backend.collab.storage.group_commit import Batch, CommitBatch, GroupCommit


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
            commit = sync_to_async(CommitConnection(), thread_sensitive=False, executor=threads)
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


class CommitConnection:
    """``update_log.append_batch`` on the commit thread's own connection, checked only when
    it may have gone stale: after a pause of ``idle`` seconds, or after an error.

    ``database_sync_to_async`` runs Django's connection checks around every call, and with
    ``CONN_HEALTH_CHECKS`` that is a ``SELECT 1`` round trip before every batch: as much
    waiting as the batch's own round trip. A busy thread's connection was in use moments
    ago; if it broke meanwhile, the batch fails, the connection is closed, and group commit
    retries the batch's appends one by one on a new one (a lone append fails: its room
    closes with 1013 and its clients resend)."""

    def __init__(self, *, idle: float = 1.0) -> None:
        self._idle = idle
        self._used = threading.local()  # per commit thread, as Django's connections are

    def __call__(self, batch: Batch) -> list[Appended | None]:
        if time.monotonic() - getattr(self._used, "at", -self._idle) >= self._idle:
            close_old_connections()  # the health check, and CONN_MAX_AGE
        try:
            return update_log.append_batch(batch)
        except Exception:
            connection.close_if_unusable_or_obsolete()
            raise
        finally:
            self._used.at = time.monotonic()
