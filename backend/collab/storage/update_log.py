"""The durable update log in the database: append with gap-free sequence numbers, read back.

Synchronous functions: rooms call them through ``store.DjangoUpdateStore``; REST views
call them directly.
"""

from __future__ import annotations

import logging
import uuid

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from backend.collab.core import update_split
from backend.collab.core.ports import Appended, LoadedLog, PendingWrite, StoredUpdate
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.collab.signals import send_mentions_committed
from backend.collab.storage import pg_append
from backend.documents.errors import DocumentNotFound
from backend.documents.models import Document
from backend.documents.permissions import writers_among

logger = logging.getLogger(__name__)


def append(document_id: uuid.UUID, writes: list[PendingWrite]) -> Appended:
    """Commit ``writes`` under the document row's lock (see ``append_batch``)."""
    (appended,) = append_batch([(document_id, writes)])
    if appended is None:
        raise DocumentNotFound
    return appended


def append_batch(batch: list[tuple[uuid.UUID, list[PendingWrite]]]) -> list[Appended | None]:
    """Commit the writes of several documents in one transaction (one disk flush).

    Returns, per entry, what was appended, or None for a document that no longer exists
    (its writes are dropped, the others commit). The document rows are locked in key order,
    so batches of several processes cannot deadlock. Role changes take the same lock
    (``documents.services``), so the writes of an author who may no longer edit when the
    lock is granted are refused: none is stored after the change's commit.

    Each stored write that adds mentions sends ``collab.signals.mentions_committed`` in
    this transaction (a refused one sends nothing: a viewer mentions nobody).

    On PostgreSQL a batch without mentions costs one round trip (``pg_append``).
    """
    if not batch:
        return []
    if connection.vendor == "postgresql" and not any(w.mentions for _, ws in batch for w in ws):
        return pg_append.append_batch(batch)
    return append_batch_by_statements(batch)


def append_batch_by_statements(
    batch: list[tuple[uuid.UUID, list[PendingWrite]]],
) -> list[Appended | None]:
    """``append_batch`` a statement at a time: for SQLite and writes with mentions, and the
    reference ``pg_append`` must agree with (``writers_among`` judges the authors)."""
    with transaction.atomic():
        locked = (
            Document.objects.select_for_update()
            .filter(pk__in={document_id for document_id, _ in batch})
            .order_by("pk")
            .values_list("pk", "head_seq", "owner_id")
        )
        heads: dict[uuid.UUID, int] = {}
        owners: dict[uuid.UUID, int] = {}
        for pk, head, owner in locked:
            heads[pk], owners[pk] = int(head), int(owner)
        allowed = writers_among(owners=owners, authors=_authors(batch, heads))
        appended: list[Appended | None] = []
        rows: list[_Row] = []
        mentioning: list[tuple[uuid.UUID, PendingWrite]] = []
        for document_id, writes in batch:
            if document_id not in heads:
                appended.append(None)
                continue
            head = heads[document_id]
            may = allowed.get(document_id, set())
            kept = [w for w in writes if w.author_id is None or w.author_id in may]
            refused = frozenset(
                w.author_id for w in writes if w.author_id is not None and w.author_id not in may
            )
            appended.append(Appended(head, refused))
            rows += ((document_id, head + i, w.update, w.author_id) for i, w in enumerate(kept, 1))
            heads[document_id] = head + len(kept)
            mentioning += ((document_id, w) for w in kept if w.mentions)
        _insert(rows)
        _set_heads(heads)  # every locked document is one of the batch's
        for document_id, write in mentioning:
            send_mentions_committed(
                document_id=document_id, author_id=write.author_id, mentions=write.mentions
            )
    return appended


def _authors(
    batch: list[tuple[uuid.UUID, list[PendingWrite]]], heads: dict[uuid.UUID, int]
) -> dict[uuid.UUID, set[int]]:
    authors: dict[uuid.UUID, set[int]] = {}
    for document_id, writes in batch:
        if document_id in heads:
            users = authors.setdefault(document_id, set())
            users.update(w.author_id for w in writes if w.author_id is not None)
    return authors


_Row = tuple[uuid.UUID, int, bytes, "int | None"]  # document, seq, update, author


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a concrete column, not a relation's reverse side
    return connection.ops.quote_name(str(field.column))


def _insert(rows: list[_Row]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        DocumentUpdate.objects.bulk_create(
            DocumentUpdate(document_id=d, seq=seq, update=u, author_id=a) for d, seq, u, a in rows
        )
        return
    # One INSERT ... SELECT FROM unnest(arrays): bulk_create builds a model instance and
    # compiles a row per update in Python, holding the GIL the event loop needs.
    fields = ("document", "seq", "update", "author", "created_at")
    columns = ", ".join(_column(DocumentUpdate, name) for name in fields)
    table = connection.ops.quote_name(DocumentUpdate._meta.db_table)
    sql = (  # identifiers from the model, every value a parameter
        f"INSERT INTO {table} ({columns})"  # noqa: S608
        " SELECT d, s, u, a, %s"
        " FROM unnest(%s::uuid[], %s::bigint[], %s::bytea[], %s::bigint[]) AS r(d, s, u, a)"
    )
    documents, seqs, updates, authors = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), documents, seqs, updates, authors])


def _set_heads(heads: dict[uuid.UUID, int]) -> None:
    now = timezone.now()
    if len(heads) == 1:
        ((document_id, head),) = heads.items()
        Document.objects.filter(pk=document_id).update(head_seq=head, updated_at=now)
    elif heads and connection.vendor == "postgresql":
        # One UPDATE ... FROM (VALUES ...): the ORM's bulk_update (a CASE per row) cost a
        # quarter of the commit thread's time at 100 busy documents, holding the GIL.
        rows = ", ".join(["(%s::uuid, %s::bigint)"] * len(heads))
        table = connection.ops.quote_name(Document._meta.db_table)
        sql = (  # identifiers from the model, every value a parameter
            f"UPDATE {table} AS d"  # noqa: S608
            f" SET {_column(Document, 'head_seq')} = v.head,"
            f" {_column(Document, 'updated_at')} = %s"
            f" FROM (VALUES {rows}) AS v(id, head)"
            f" WHERE d.{_column(Document, 'id')} = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, *(p for item in heads.items() for p in item)])
    elif heads:
        documents = [Document(pk=d, head_seq=head, updated_at=now) for d, head in heads.items()]
        Document.objects.bulk_update(documents, ["head_seq", "updated_at"])


def heads(document_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The head sequence of each document that still exists."""
    rows = Document.objects.filter(pk__in=document_ids).values_list("pk", "head_seq")
    return {document_id: int(head) for document_id, head in rows}


def updates_after(document_id: uuid.UUID, seq: int, upto: int | None = None) -> list[StoredUpdate]:
    rows = DocumentUpdate.objects.filter(document_id=document_id, seq__gt=seq)
    if upto is not None:
        rows = rows.filter(seq__lte=upto)
    # The ORM's SQL, read with one fetchall: a cold load reads 100,000 rows, and reading
    # them through the ORM's iteration took twice the CPU time.
    sql, params = rows.order_by("seq").values_list("seq", "update").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [StoredUpdate(s, u if type(u) is bytes else bytes(u)) for s, u in cursor.fetchall()]


def load(document_id: uuid.UUID, upto: int | None = None) -> LoadedLog:
    """The latest snapshot at or before ``upto`` (or the head) and the updates after it."""
    snapshots = DocumentSnapshot.objects.filter(document_id=document_id)
    if upto is not None:
        snapshots = snapshots.filter(seq__lte=upto)
    snapshot_seq, state = 0, None
    newest_first = snapshots.order_by("-seq").values_list("seq", "state", "sound_encoding")
    for seq, stored, sound in newest_first.iterator(chunk_size=2):
        if sound or not update_split.damaged(bytes(stored)):
            snapshot_seq, state = int(seq), bytes(stored)
            break
        logger.warning(
            "ignoring the snapshot of document %s at %s: it was written before Tandem "
            "worked around a yrs encoding fault (yrs integrating pending items twice, see "
            "docs/reliability.md); "
            "loading from the log rows before it instead",
            document_id,
            seq,
        )
    return LoadedLog(
        snapshot=state,
        snapshot_seq=snapshot_seq,
        updates=updates_after(document_id, snapshot_seq, upto),
    )


def save_snapshot(document_id: uuid.UUID, seq: int, state: bytes) -> None:
    try:
        with transaction.atomic():
            DocumentSnapshot.objects.create(
                document_id=document_id, seq=seq, state=state, sound_encoding=True
            )
    except IntegrityError:
        # Another replica stored this sequence number's snapshot first, or the document
        # was deleted meanwhile: either way there is nothing left to do.
        logger.debug("snapshot %s@%s already stored or document gone", document_id, seq)
