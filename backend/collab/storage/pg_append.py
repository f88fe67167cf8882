"""The common append on PostgreSQL in one round trip: lock, judge, number, insert, raise heads.

``update_log.append_batch`` sends this for batches without mentions. Two prepared statements
go out in one pipeline (psycopg's pipeline mode) and run as one transaction, one round trip
and one disk flush: unless the caller holds a transaction already, the implicit one that
PostgreSQL's extended protocol opens at the first statement and commits at the pipeline's
``Sync`` (an error aborts it, and the ``Sync`` ends it). No ``BEGIN`` and ``COMMIT``: each
was a command of its own for psycopg to send and wait on, 0.2-0.3 ms of every append.

1. ``SELECT ... ORDER BY id FOR UPDATE`` locks the document rows in key order (batches of
   several processes cannot deadlock) and returns each head.
2. One statement with CTEs judges each write's author, numbers the allowed writes per
   document after its head, inserts them and raises the heads; it returns, per batch entry,
   how many writes were kept and which authors were refused.

Two statements, not one: under READ COMMITTED each statement reads the snapshot taken when
it starts. The second starts once the first holds the locks, so it judges authors by the
roles committed by then, as ``writers_among`` after ``select_for_update`` does: a role
change takes the same lock (``documents.services``), so a write stored after the change's
commit is judged by it. A single statement would read memberships as of before it waited.

Prepared, not sent as text: parsing and planning the second statement cost PostgreSQL more
than running it (0.25-0.5 ms against 0.2 ms for five writes); a prepared statement is
parsed once per connection, which halved PostgreSQL's CPU per commit (0.93 -> 0.48 ms for
five documents). PostgreSQL still plans it afresh at each run unless told to keep one
generic plan, as the rooms' commit connections are (``pg_commit``: 0.2 ms of 0.8).
Django's own cursors bind parameters client-side and prepare nothing; these statements use
a server-side binding cursor of their own. A connection pooler in transaction mode
(PgBouncer < 1.21) cannot hold prepared statements: point ``DATABASE_URL`` past it or use
session mode (docs/operations.md).
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

from backend.collab.core.ports import Appended
from backend.collab.models import DocumentUpdate
from backend.collab.storage.group_commit import Batch
from backend.documents.models import Document, Membership, Role

Statement = tuple[str, tuple[object, ...]]

_EDITING = [role.value for role in Role if role.allows(Role.EDITOR)]
"""The roles that may edit (``Role.allows``): the SQL rule's list."""


def append_batch(batch: Batch) -> list[Appended | None]:
    """``update_log.append_batch`` for writes without mentions, on PostgreSQL."""
    lock, judge = statements_for(batch)
    with connection.wrap_database_errors:
        locking, judging = _run_prepared(lock, judge)
    return appended_from(batch, locking, judging)


def statements_for(batch: Batch) -> tuple[Statement, Statement]:
    """The two statements that append ``batch``, with their parameters: to run prepared, in
    this order, in one transaction (``_run_prepared``, or ``pg_commit`` on the event loop)."""
    entries: list[int] = []
    documents: list[uuid.UUID] = []
    updates: list[bytes] = []
    authors: list[int | None] = []
    for entry, (document_id, writes) in enumerate(batch):
        for write in writes:
            entries.append(entry)
            documents.append(document_id)
            updates.append(write.update)
            authors.append(write.author_id)
    ids = sorted({document_id for document_id, _ in batch})
    now = timezone.now()
    lock, judge = _statements()
    return (lock, (ids,)), (judge, (entries, documents, updates, authors, _EDITING, now, now, ids))


def appended_from(
    batch: Batch, locking: list[tuple[Any, ...]], judging: list[tuple[Any, ...]]
) -> list[Appended | None]:
    """What each entry of ``batch`` appended, from the rows of ``statements_for``'s two."""
    heads = {document_id: int(head) for document_id, head in locking}
    judged = {int(e): (int(kept), refused) for e, kept, refused in judging}
    appended: list[Appended | None] = []
    for entry, (document_id, _) in enumerate(batch):
        if document_id not in heads:
            appended.append(None)
            continue
        kept, refused = judged.get(entry, (0, []))
        appended.append(Appended(heads[document_id], frozenset(refused)))
        heads[document_id] += kept
    return appended


_IN_TRANSACTION = psycopg.pq.TransactionStatus.INTRANS
_IN_ERROR = psycopg.pq.TransactionStatus.INERROR


def _run_prepared(*statements: Statement) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` prepared, in one pipeline and one transaction (the caller's, or
    the pipeline's implicit one, committed at its ``Sync``); their rows."""
    connection.ensure_connection()
    conn = connection.connection
    assert isinstance(conn, psycopg.Connection)
    if conn.prepare_threshold is None:
        conn.prepare_threshold = 5  # Django leaves it off; only our own cursors prepare
    own = connection.get_autocommit() and not connection.in_atomic_block
    cursors = [psycopg.Cursor(conn) for _ in statements]
    try:
        with conn.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params, prepare=True)
        return [cursor.fetchall() for cursor in cursors]
    except BaseException:
        status = conn.info.transaction_status
        if own and status in (_IN_TRANSACTION, _IN_ERROR):
            conn.rollback()  # interrupted before the pipeline's Sync was answered
        raise
    finally:
        for cursor in cursors:
            cursor.close()


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a concrete column, not a relation's reverse side
    return connection.ops.quote_name(str(field.column))


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@cache
def _statements() -> tuple[str, str]:
    """The two statements; identifiers from the models, every value a parameter."""
    user = get_user_model()
    doc, upd, users, members = (_table(m) for m in (Document, DocumentUpdate, user, Membership))
    d_id, head, owner = (_column(Document, name) for name in ("id", "head_seq", "owner"))
    fields = ("document", "seq", "update", "author", "created_at")
    columns = ", ".join(_column(DocumentUpdate, name) for name in fields)
    # The rule of ``permissions.role_from`` for "may edit": an author of no account (REST
    # restores, system writes) may; else an active account that owns the document or is a
    # member with an editing role. A deleted account is as inactive.
    lock = (
        f"SELECT {d_id}, {head} FROM {doc}"  # noqa: S608
        f" WHERE {d_id} = ANY(%s::uuid[]) ORDER BY {d_id} FOR UPDATE"
    )
    judge = (
        "WITH w AS ("  # noqa: S608
        " SELECT * FROM unnest(%s::int[], %s::uuid[], %s::bytea[], %s::bigint[])"
        " WITH ORDINALITY AS w(entry, document, body, author, n)"
        "), judged AS ("
        f" SELECT w.entry, w.document, w.body, w.author, w.n, d.{head} AS head,"
        f" coalesce(w.author IS NULL OR (u.{_column(user, 'is_active')}"
        f" AND (d.{owner} = w.author OR m.{_column(Membership, 'role')} = ANY(%s::text[]))),"
        " false) AS allowed"  # no account or no membership: NULL, so refused
        f" FROM w JOIN {doc} AS d ON d.{d_id} = w.document"
        f" LEFT JOIN {users} AS u ON u.{_column(user, 'id')} = w.author"
        f" LEFT JOIN {members} AS m ON m.{_column(Membership, 'document')} = w.document"
        f" AND m.{_column(Membership, 'user')} = w.author"
        "), numbered AS ("
        " SELECT document, body, author,"
        " head + row_number() OVER (PARTITION BY document ORDER BY n) AS seq"
        " FROM judged WHERE allowed"
        "), stored AS ("
        f" INSERT INTO {upd} ({columns}) SELECT document, seq, body, author, %s FROM numbered"
        "), raised AS ("
        f" UPDATE {doc} AS d SET {head} = d.{head} + k.kept,"
        f" {_column(Document, 'updated_at')} = %s"
        " FROM (SELECT i.id, count(n.document) AS kept FROM unnest(%s::uuid[]) AS i(id)"
        " LEFT JOIN numbered AS n ON n.document = i.id GROUP BY i.id) AS k"
        f" WHERE d.{d_id} = k.id"
        ")"
        " SELECT entry, count(*) FILTER (WHERE allowed),"
        " coalesce(array_agg(DISTINCT author) FILTER (WHERE NOT allowed), '{}')"
        " FROM judged GROUP BY entry"
    )
    return lock, judge
