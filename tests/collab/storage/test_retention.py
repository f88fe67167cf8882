"""The update log's retention in PostgreSQL: ``compact_update_log`` folds old rows into a
snapshot, deletes them in batches beside live appends, and is safe to run again."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone
from pycrdt import Doc, Text

from backend.collab.api.selectors import document_state
from backend.collab.core import content
from backend.collab.core.ports import PendingWrite
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.collab.storage import retention, update_log
from backend.documents.models import Document
from tests.support.factories import make_document


def _keystrokes(count: int, *, client_id: int = 7) -> list[bytes]:
    doc: Doc[Any] = Doc(client_id=client_id)
    text = doc.get("t", type=Text)
    updates = []
    for i in range(count):
        before = doc.get_state()
        text.insert(len(text), "abcdefghij"[i % 10])
        updates.append(doc.get_update(before))
    return updates


def _stored(updates: list[bytes], *, old: int) -> Document:
    """A document holding ``updates``, the first ``old`` of them three days old."""
    document = make_document()
    update_log.append(document.pk, [PendingWrite(u, None) for u in updates])
    three_days = timezone.now() - timedelta(days=3)
    DocumentUpdate.objects.filter(document=document, seq__lte=old).update(created_at=three_days)
    return document


def _text(document: Document) -> str:
    doc, _ = document_state(document=Document.objects.get(pk=document.pk))
    return str(doc.get("t", type=Text))


def _seqs(document: Document) -> list[int]:
    rows = DocumentUpdate.objects.filter(document=document).order_by("seq")
    return list(rows.values_list("seq", flat=True))


def _cut() -> Any:
    return timezone.now() - timedelta(days=1)


@pytest.mark.django_db
def test_compaction_is_idempotent_and_keeps_the_state() -> None:
    document = _stored(_keystrokes(50), old=30)
    before = _text(document)
    first = retention.document_compact(document_id=document.pk, cut=_cut(), batch=7)
    assert first == retention.Compacted(document.pk, 30, 30, snapshot_built=True)
    assert _seqs(document) == list(range(31, 51))
    snapshots = list(DocumentSnapshot.objects.filter(document=document).values_list("seq"))
    assert snapshots == [(30,)]
    assert retention.document_compact(document_id=document.pk, cut=_cut()) is None
    assert retention.compact_due(cut=_cut()) == retention.Run([], [])
    assert _seqs(document) == list(range(31, 51))
    assert DocumentSnapshot.objects.filter(document=document).count() == 1
    assert _text(document) == before == "abcdefghij" * 5
    assert retention.retained_from(document.pk) == 30


@pytest.mark.django_db
def test_a_stored_snapshot_at_the_cut_is_used_and_newer_rows_stay() -> None:
    document = _stored(_keystrokes(20), old=20)
    update_log.append(document.pk, [PendingWrite(u, None) for u in _keystrokes(5, client_id=8)])
    doc, _ = document_state(document=document, upto=20)
    update_log.save_snapshot(document.pk, 20, doc.get_update())
    done = retention.document_compact(document_id=document.pk, cut=_cut())
    assert done == retention.Compacted(document.pk, 20, 20, snapshot_built=False)
    assert _seqs(document) == list(range(21, 26))
    assert len(_text(document)) == 25


@pytest.mark.django_db
def test_every_row_old_compacts_to_the_head_and_appends_go_on() -> None:
    document = _stored(_keystrokes(12), old=12)
    done = retention.document_compact(document_id=document.pk, cut=_cut())
    assert done is not None
    assert done.through == 12
    assert _seqs(document) == []
    assert retention.retained_from(document.pk) == 12
    appended = update_log.append(document.pk, [PendingWrite(_keystrokes(1, client_id=9)[0], None)])
    assert appended.previous == 12
    assert _seqs(document) == [13]
    assert len(_text(document)) == 13


@pytest.mark.django_db
def test_the_command_does_nothing_unless_retention_is_set(settings: Any) -> None:
    document = _stored(_keystrokes(10), old=10)
    out = StringIO()
    settings.UPDATE_LOG_RETENTION_DAYS = 0
    call_command("compact_update_log", stdout=out)
    assert "every update is kept" in out.getvalue()
    assert len(_seqs(document)) == 10
    settings.UPDATE_LOG_RETENTION_DAYS = 5  # the rows are 3 days old
    call_command("compact_update_log", stdout=out)
    assert len(_seqs(document)) == 10
    settings.UPDATE_LOG_RETENTION_DAYS = 2
    call_command("compact_update_log", stdout=out)
    assert _seqs(document) == []
    assert "compacted 1 documents: 10 rows" in out.getvalue()
    with pytest.raises(CommandError, match="--days"):
        call_command("compact_update_log", "--days", "-1")


def _in_thread(work: Any) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db
def test_shards_divide_the_documents_between_processes() -> None:
    documents = [_stored(_keystrokes(3), old=3) for _ in range(8)]
    out = StringIO()
    for index in range(3):
        call_command("compact_update_log", "--days", "2", "--shard", f"{index}/3", stdout=out)
    runs = [line for line in out.getvalue().splitlines() if line.startswith("compacted")]
    counts = [int(line.split()[1]) for line in runs]
    assert counts == [sum(d.pk.int % 3 == index for d in documents) for index in range(3)]
    assert all(_seqs(document) == [] for document in documents)
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(CommandError):
            call_command("compact_update_log", "--days", "2", "--shard", bad)


@pytest.mark.django_db(transaction=True)
def test_appends_during_a_compaction_keep_gap_free_seqs() -> None:
    """Appends through the real path run while the rows below them are deleted batch by
    batch: every seq is taken once and the text is whole."""
    old = 3000
    document = _stored(_keystrokes(old), old=old)
    doc, _ = document_state(document=document, upto=old)
    update_log.save_snapshot(document.pk, old, doc.get_update())  # the compaction only deletes
    live = iter(_keystrokes(2000, client_id=11))
    finished = threading.Event()
    heads: list[int] = []

    def append_live() -> None:
        for update in live:
            if finished.is_set():
                break
            heads.append(update_log.append(document.pk, [PendingWrite(update, None)]).previous)

    writer = _in_thread(append_live)
    # The smallest batches: many short transactions for the appends to run between.
    done = retention.document_compact(document_id=document.pk, cut=_cut(), batch=10)
    during = len(heads)
    finished.set()
    writer.join(30)
    assert done is not None
    assert (done.through, done.deleted) == (old, old)
    assert during > 0, "no append committed while the rows were deleted"
    appended = [previous + 1 for previous in heads]
    assert appended == list(range(old + 1, old + 1 + len(heads)))
    assert _seqs(document) == appended
    assert Document.objects.get(pk=document.pk).head_seq == old + len(heads)
    assert len(_text(document)) == old + len(heads)


@pytest.mark.django_db(transaction=True)
def test_compaction_never_waits_for_the_document_row_lock() -> None:
    """An append holding the document row lock (``SELECT ... FOR UPDATE``) for the whole
    deletion does not stop it: deleting rows never asks for that lock. (Storing the
    snapshot does, for its one INSERT, like a room's snapshot: the foreign key check.)"""
    document = _stored(_keystrokes(300), old=300)
    doc, _ = document_state(document=document, upto=300)
    update_log.save_snapshot(document.pk, 300, doc.get_update())
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with transaction.atomic():
            Document.objects.select_for_update().get(pk=document.pk)
            locked.set()
            release.wait(30)

    holder = _in_thread(hold_lock)
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # a wait fails the test, not hangs it
        done = retention.document_compact(document_id=document.pk, cut=_cut(), batch=50)
    finally:
        release.set()
        holder.join(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert done is not None
    assert done.deleted == 300
    assert _text(document) == "abcdefghij" * 30


@pytest.mark.django_db
def test_rest_written_document_text_survives(owner_client: Any) -> None:
    document = make_document(owner=owner_client.user)
    url = f"/api/documents/{document.id}/content/"
    for text in ["a", "a\nb", "a\nb\nc", "a\nb\nc\nd"]:
        owner_client.put(url, {"text": text})
    DocumentUpdate.objects.filter(document=document, seq__lte=3).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    assert retention.compact_due(cut=_cut()).compacted[0].through == 3
    doc, seq = document_state(document=document)
    assert (content.as_text(doc), seq) == ("a\nb\nc\nd", 4)


@pytest.mark.django_db
def test_a_long_log_without_snapshots_is_built_in_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BUILD_AT_MOST", 20)
    document = _stored(_keystrokes(50), old=50)
    read: list[int] = []
    load = update_log.load

    def counting_load(document_id: Any, upto: int | None = None) -> Any:
        log = load(document_id, upto)
        read.append(len(log.updates))
        return log

    monkeypatch.setattr(update_log, "load", counting_load)
    done = retention.document_compact(document_id=document.pk, cut=_cut())
    assert done == retention.Compacted(document.pk, 50, 50, snapshot_built=True)
    assert max(read) <= 20
    snapshots = DocumentSnapshot.objects.filter(document=document).order_by("seq")
    assert list(snapshots.values_list("seq", flat=True)) == [20, 40, 50]
    assert _text(document) == "abcdefghij" * 5
    for seq in (20, 40):
        doc, _ = document_state(document=document, upto=seq)
        assert str(doc.get("t", type=Text)) == ("abcdefghij" * 5)[:seq]


@pytest.mark.django_db
def test_a_document_that_cannot_be_compacted_does_not_stop_the_others() -> None:
    broken = _stored(_keystrokes(10), old=10)
    DocumentUpdate.objects.filter(document=broken, seq=5).delete()  # a hole: refused
    fine = _stored(_keystrokes(10), old=10)
    run = retention.compact_due(cut=_cut())
    assert run.failed == [broken.pk]
    assert [c.document_id for c in run.compacted] == [fine.pk]
    assert len(_seqs(broken)) == 9
    with pytest.raises(CommandError, match="1 documents could not be compacted"):
        call_command("compact_update_log", "--days", "2", stdout=StringIO())
