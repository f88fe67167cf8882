"""The common append on PostgreSQL in one statement: lock, judge, number, insert, raise heads.

``update_log.append_batch`` sends this for batches without mentions. One prepared call of a
server-side function, in one transaction, one round trip and one disk flush: unless the
caller holds a transaction already, the implicit one that PostgreSQL's extended protocol
opens at the statement and commits at its ``Sync``. A batch of one write (a typing
editor's commit, most of the time) calls ``collab_append_update`` (migration
``collab.0005``), which does the steps below with one row each; any other batch calls
``collab_append_updates`` (migration ``collab.0004``). Inside the latter:

1. ``SELECT ... ORDER BY id FOR UPDATE`` locks the document rows in key order (batches of
   several processes cannot deadlock) and returns each head.
2. One statement with CTEs judges each write's author, numbers the allowed writes per
   document after its head, inserts them and raises the heads; it returns, per batch entry,
   how many writes were kept and which authors were refused.

The lock and the judging are two statements in each function, not one: under READ
COMMITTED each reads the snapshot taken when it starts. The judging starts once the lock
is held, so it judges authors by the roles committed by then, as ``writers_among`` after
``select_for_update`` does: a role change takes the same lock (``documents.services``), so
a write stored after the change's commit is judged by it. The batch function's two were
sent as two statements in one pipeline before: one call is one statement less for psycopg
to send and PostgreSQL to execute (a one-document commit 10 ms after the last: 2.1 -> 1.8
ms p50). As one plain statement with the same CTEs the call cost the same; the one-write
function, 1.83 -> 1.55 ms.

Prepared, not sent as text; PostgreSQL keeps the function's own statements' plans for the
session. Parsing and planning the judging statement cost PostgreSQL more than running it
(0.25-0.5 ms against 0.2 ms for five writes); PostgreSQL still plans it afresh at each run
unless told to keep one generic plan, as the rooms' commit connections are (``pg_commit``:
0.2 ms of 0.8). Django's own cursors bind parameters client-side and prepare nothing; on
the event loop this statement is sent through libpq's connection without a cursor
(``pg_wire``), on a thread through a server-side binding cursor of its own
(``_run_prepared``). A connection pooler in transaction mode (PgBouncer < 1.21) cannot hold
prepared statements: point ``DATABASE_URL`` past it or use session mode
(docs/operations.md).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from django.db import connection
from django.utils import timezone

from backend.collab.core.ports import Appended, PendingWrite
from backend.collab.storage.group_commit import Batch
from backend.collab.storage.pg_arrays import ByteaArray, Int4Array, Int8Array, TextArray, UuidArray
from backend.collab.storage.pg_loop import Statement
from backend.documents.models import Role

_EDITING = TextArray(role.value for role in Role if role.allows(Role.EDITOR))
"""The roles that may edit (``Role.allows``): the SQL rule's list."""

_CALL = (
    "SELECT * FROM collab_append_updates("
    "%b::int[], %b::uuid[], %b::bytea[], %b::bigint[], %b::text[], %b::timestamptz, %b::uuid[])"
)
# The author as the one element of a typed array: as a plain int psycopg types it by its size
# and None by no type at all, a prepared statement for each (``pg_arrays``).
_CALL_ONE = (
    "SELECT * FROM collab_append_update("
    "%b::uuid, %b::bytea, (%b::bigint[])[1], %b::text[], %b::timestamptz)"
)


def append_batch(batch: Batch) -> list[Appended | None]:
    """``update_log.append_batch`` for writes without mentions, on PostgreSQL."""
    with connection.wrap_database_errors:
        rows = _run_prepared(statement_for(batch))
    return appended_from(batch, rows)


def statement_for(batch: Batch) -> Statement:
    """The statement that appends ``batch``, with its parameters: to run prepared
    (``_run_prepared``, or ``pg_commit`` on the event loop)."""
    one = _only_write(batch)
    if one is not None:
        author = Int8Array([one.author_id])
        return _CALL_ONE, (batch[0][0], one.update, author, _EDITING, timezone.now())
    entries = Int4Array()
    documents = UuidArray()
    updates = ByteaArray()
    authors = Int8Array()
    for entry, (document_id, writes) in enumerate(batch):
        for write in writes:
            entries.append(entry)
            documents.append(document_id)
            updates.append(write.update)
            authors.append(write.author_id)
    ids = UuidArray(sorted({document_id for document_id, _ in batch}))
    return _CALL, (entries, documents, updates, authors, _EDITING, timezone.now(), ids)


def warm_statements() -> list[Statement]:
    """Calls of both functions that append nothing (no document has the nil id), run on
    each new commit connection before its first commit: the new backend loads the tables'
    catalogs and plans the functions' statements then, not on a room's commit."""
    nowhere = uuid.UUID(int=0)
    one = [(nowhere, [PendingWrite(b"", 0)])]
    return [statement_for(one), statement_for(one + one)]


def appended_from(batch: Batch, rows: list[tuple[Any, ...]]) -> list[Appended | None]:
    """What each entry of ``batch`` appended, from the rows of ``statement_for``'s call: for
    one write, its document's head and whether it was kept, if the document was found; else
    a head per document found (no entry), then kept and refused per entry (no document)."""
    one = _only_write(batch)
    if one is not None:
        if not rows:
            return [None]
        ((head, allowed),) = rows
        refused = () if allowed or one.author_id is None else (one.author_id,)
        return [Appended(int(head), frozenset(refused))]
    heads = {document_id: int(head) for entry, document_id, head, _ in rows if entry is None}
    judged = {
        int(entry): (int(kept), refused) for entry, _, kept, refused in rows if entry is not None
    }
    appended: list[Appended | None] = []
    for entry, (document_id, _) in enumerate(batch):
        if document_id not in heads:
            appended.append(None)
            continue
        kept, refused = judged.get(entry, (0, []))
        appended.append(Appended(heads[document_id], frozenset(refused)))
        heads[document_id] += kept
    return appended


def _only_write(batch: Batch) -> PendingWrite | None:
    """The write of a batch of one write (``collab_append_update``'s), else None."""
    if len(batch) == 1 and len(batch[0][1]) == 1:
        return batch[0][1][0]
    return None


_IN_TRANSACTION = psycopg.pq.TransactionStatus.INTRANS
_IN_ERROR = psycopg.pq.TransactionStatus.INERROR


def _run_prepared(statement: Statement) -> list[tuple[Any, ...]]:
    """Run ``statement`` prepared, in the caller's transaction or its own (committed at its
    ``Sync``); its rows."""
    connection.ensure_connection()
    conn = connection.connection
    assert isinstance(conn, psycopg.Connection)
    if conn.prepare_threshold is None:
        conn.prepare_threshold = 5  # Django leaves it off; only our own cursors prepare
    own = connection.get_autocommit() and not connection.in_atomic_block
    sql, params = statement
    try:
        with psycopg.Cursor(conn) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
    except BaseException:
        status = conn.info.transaction_status
        if own and status in (_IN_TRANSACTION, _IN_ERROR):
            conn.rollback()  # interrupted before the statement's Sync was answered
        raise
