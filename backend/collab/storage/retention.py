"""Retention of the update log: rows older than a cut fold into a snapshot and leave.

For each document with rows older than the cut, ``document_compact`` finds ``through``, the
last sequence number of the run of rows from the oldest kept one that are all older than
the cut; makes sure a usable snapshot stands at exactly ``through`` (built from the log as
a cold load builds the Doc); then deletes the rows at or before it, a batch per
transaction, oldest first. Snapshots before ``through`` stay: history beyond the cut keeps
their granularity.

Appends are never blocked: nothing here locks the document row (appends take it with
``SELECT ... FOR UPDATE``), and every row deleted has a sequence number below the head,
where no append writes. A reader that runs while a batch is deleted sees the snapshot at
``through`` already stored, so the current state never needs a deleted row; a read of an
old version sees the gap (``retained_from``, ``is_contiguous``) and says the version is
gone instead of answering from part of it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Field, Max, Min, OuterRef, Subquery

from backend.collab.core import update_split
from backend.collab.core.integration import doc_from_log, snapshot_state
from backend.collab.core.ports import LoadedLog
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.collab.storage import update_log
from backend.documents.models import Document

logger = logging.getLogger(__name__)

DELETE_BATCH = 5000  # rows per DELETE: each is its own short transaction
BUILD_AT_MOST = 100_000  # rows read to build one snapshot (200,000 took 4 s)
Shard = tuple[int, int]  # (index, count): the documents whose id modulo count is index


@dataclass(frozen=True)
class Compacted:
    """What one document's compaction did: rows at or before ``through`` are gone."""

    document_id: uuid.UUID
    through: int
    deleted: int
    snapshot_built: bool


def documents_due(*, cut: datetime, shard: Shard = (0, 1)) -> Iterator[uuid.UUID]:
    """Documents whose oldest kept row is older than ``cut`` (one index probe each), of
    ``shard`` = (index, count) only: processes given the shards 0..count-1 share a run."""
    oldest = (
        DocumentUpdate.objects.filter(document=OuterRef("pk"))
        .order_by("seq")
        .values("created_at")[:1]
    )
    due = (
        Document.objects.annotate(oldest=Subquery(oldest))
        .filter(oldest__lt=cut)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    index, count = shard
    yield from (pk for pk in due.iterator(chunk_size=500) if pk.int % count == index)


def retained_from(document_id: uuid.UUID) -> int:
    """The sequence number after which every row is kept: 0 until a compaction ran."""
    rows = DocumentUpdate.objects.filter(document_id=document_id)
    oldest = rows.aggregate(first=Min("seq"))["first"]
    if oldest is not None:
        return int(oldest) - 1
    head = Document.objects.filter(pk=document_id).values_list("head_seq", flat=True).first()
    return int(head or 0)


def is_contiguous(log: LoadedLog, upto: int | None) -> bool:
    """Whether ``log`` (``update_log.load``'s answer) holds every row from its snapshot to
    ``upto``: false when the retention deleted rows it needed."""
    seqs = [row.seq for row in log.updates]
    if seqs != list(range(log.snapshot_seq + 1, log.snapshot_seq + 1 + len(seqs))):
        return False
    return upto is None or log.head == upto


@dataclass
class Run:
    """What ``compact_due`` did: the documents compacted, and those it failed on (logged
    with the exception; their rows stay until a run succeeds)."""

    compacted: list[Compacted] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)


def compact_due(*, cut: datetime, batch: int = DELETE_BATCH, shard: Shard = (0, 1)) -> Run:
    """Compact every document (of ``shard``) with rows older than ``cut``; one document's
    failure does not stop the others."""
    run = Run()
    for document_id in documents_due(cut=cut, shard=shard):
        try:
            compacted = document_compact(document_id=document_id, cut=cut, batch=batch)
        except Exception:
            logger.exception("could not compact the update log of %s", document_id)
            run.failed.append(document_id)
            continue
        if compacted is not None:
            run.compacted.append(compacted)
    return run


def document_compact(
    *, document_id: uuid.UUID, cut: datetime, batch: int = DELETE_BATCH
) -> Compacted | None:
    """Fold the document's rows older than ``cut`` into a snapshot and delete them.

    Idempotent: a second run with the same cut finds nothing older to delete. Returns None
    when there is nothing to do."""
    floor = retained_from(document_id)
    through = _last_old_seq(document_id, cut)
    if through is None or through <= floor:
        return None
    built = _ensure_snapshot(document_id, through)
    _drop_damaged_snapshots(document_id, floor, through)
    started = time.monotonic()
    deleted = _delete_rows(document_id, floor, through, cut, batch)
    logger.info(
        "compacted %s: %d rows through %d deleted in %.2fs (snapshot %s)",
        document_id,
        deleted,
        through,
        time.monotonic() - started,
        "built" if built else "already stored",
    )
    return Compacted(document_id, through, deleted, built)


def _last_old_seq(document_id: uuid.UUID, cut: datetime) -> int | None:
    """The last seq of the run of rows, from the oldest, that are all older than ``cut``."""
    rows = DocumentUpdate.objects.filter(document_id=document_id)
    first_new = rows.filter(created_at__gte=cut).order_by("seq").values_list("seq", flat=True)
    newer = first_new.first()
    if newer is not None:
        return int(newer) - 1
    # Every row is old. A row appended meanwhile is new: the filter keeps it out.
    last = rows.filter(created_at__lt=cut).aggregate(last=Max("seq"))["last"]
    return None if last is None else int(last)


def _ensure_snapshot(document_id: uuid.UUID, through: int) -> bool:
    """Make sure ``update_log.load(upto=through)`` answers with a snapshot at ``through``;
    True when it had to be built. A build reads at most BUILD_AT_MOST rows: further from
    the last snapshot, snapshots are built on the way (more versions kept, bounded memory)."""
    base = (
        DocumentSnapshot.objects.filter(document_id=document_id, seq__lte=through).aggregate(
            last=Max("seq")
        )["last"]
        or 0
    )
    for step in range(int(base) + BUILD_AT_MOST, through, BUILD_AT_MOST):
        _snapshot_at(document_id, step)
    return _snapshot_at(document_id, through)


def _snapshot_at(document_id: uuid.UUID, through: int) -> bool:
    log = update_log.load(document_id, through)
    if log.snapshot_seq == through:
        return False
    if not is_contiguous(log, through):
        raise RuntimeError(
            f"the log of {document_id} misses rows before {through}: not compacting it"
        )
    doc, waiting = doc_from_log(log)
    state = snapshot_state(doc, waiting)
    made_at = (
        DocumentUpdate.objects.filter(document_id=document_id, seq=through)
        .values_list("created_at", flat=True)
        .first()
    )
    with transaction.atomic():
        # A snapshot at ``through`` that load skipped carries yrs' damage: replace it.
        DocumentSnapshot.objects.filter(document_id=document_id, seq=through).delete()
        update_log.save_snapshot(document_id, through, state)
        if made_at is not None:
            # The version's time is its last update's, not the compaction's.
            DocumentSnapshot.objects.filter(document_id=document_id, seq=through).update(
                created_at=made_at
            )
    return True


def _drop_damaged_snapshots(document_id: uuid.UUID, floor: int, through: int) -> None:
    """Delete the old-encoding snapshots in (floor, through) that carry yrs' damage: load
    skips them for the rows before them, which are about to go."""
    legacy = DocumentSnapshot.objects.filter(
        document_id=document_id, seq__gt=floor, seq__lt=through, sound_encoding=False
    ).values_list("pk", "state")
    damaged = [
        pk for pk, state in legacy.iterator(chunk_size=2) if update_split.damaged(bytes(state))
    ]
    if damaged:
        DocumentSnapshot.objects.filter(pk__in=damaged).delete()


def _delete_rows(
    document_id: uuid.UUID, floor: int, through: int, cut: datetime, batch: int
) -> int:
    table = connection.ops.quote_name(DocumentUpdate._meta.db_table)
    document, seq, created = (_column(name) for name in ("document", "seq", "created_at"))
    sql = (  # identifiers from the model, every value a parameter
        f"DELETE FROM {table} WHERE {document} = %s"  # noqa: S608
        f" AND {seq} > %s AND {seq} <= %s AND {created} < %s"
    )
    deleted = 0
    for low in range(floor, through, batch):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [document_id, low, min(low + batch, through), cut])
            deleted += cursor.rowcount
    return deleted


def _column(name: str) -> str:
    field = DocumentUpdate._meta.get_field(name)
    assert isinstance(field, Field)  # a concrete column, not a relation's reverse side
    return connection.ops.quote_name(str(field.column))
