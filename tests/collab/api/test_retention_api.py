"""History, versions, restore and reconnecting clients after the update log's retention
deleted old rows (``backend.collab.storage.retention``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.collab.core.integration import doc_from_log, snapshot_state
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.collab.storage import retention, update_log
from backend.documents.models import Document
from tests.support.factories import make_document
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async

TEXTS = ["one", "one two", "one two three", "four", "four five", "four five six"]


def _age(document_id: Any, *, through: int, days: int = 3) -> None:
    """Make the rows at or before ``through`` look ``days`` old."""
    old = timezone.now() - timedelta(days=days)
    DocumentUpdate.objects.filter(document_id=document_id, seq__lte=through).update(created_at=old)


def _room_snapshot(document_id: Any, seq: int) -> None:
    """A snapshot at ``seq`` as a room stores one every SNAPSHOT_EVERY updates."""
    doc, waiting = doc_from_log(update_log.load(document_id, seq))
    update_log.save_snapshot(document_id, seq, snapshot_state(doc, waiting))


def _cut() -> Any:
    return timezone.now() - timedelta(days=1)


@pytest.fixture
def compacted(owner_client: APIClient) -> str:
    """A document with six versions; rows 1..4 are old, a room snapshot stands at 2, and
    the retention has run: rows 1..4 are gone, a snapshot stands at 4."""
    document = make_document(owner=owner_client.user)  # type: ignore[attr-defined]
    url = f"/api/documents/{document.id}/"
    for text in TEXTS:
        assert owner_client.put(f"{url}content/", {"text": text}).status_code == 200
    _room_snapshot(document.pk, 2)
    _age(document.pk, through=4)
    done = retention.document_compact(document_id=document.pk, cut=_cut())
    assert done == retention.Compacted(document.pk, 4, 4, snapshot_built=True)
    return url


@pytest.mark.django_db
def test_content_is_unchanged_and_history_is_snapshot_granular_before_the_cut(
    owner_client: APIClient, compacted: str
) -> None:
    assert owner_client.get(f"{compacted}content/").json()["text"] == "four five six"
    history = owner_client.get(f"{compacted}history/").json()
    rows = [(r["seq"], r["kind"], r["author"]) for r in history["results"]]
    assert rows == [
        (6, "update", "olivia"),
        (5, "update", "olivia"),
        (4, "snapshot", None),
        (2, "snapshot", None),
    ]
    assert history["count"] == 4
    assert all(r["size"] > 0 for r in history["results"])
    # A built snapshot is dated like the update it ends at, not like the compaction.
    assert history["results"][2]["created_at"] < history["results"][1]["created_at"]


@pytest.mark.django_db
def test_kept_versions_read_and_removed_ones_say_the_retention_took_them(
    owner_client: APIClient, compacted: str
) -> None:
    for seq in (6, 5, 4, 2):
        assert owner_client.get(f"{compacted}versions/{seq}/").json()["text"] == TEXTS[seq - 1]
    assert owner_client.get(f"{compacted}versions/0/").json()["text"] == ""
    for seq in (3, 1):
        response = owner_client.get(f"{compacted}versions/{seq}/")
        assert response.status_code == 404
        assert "retention" in response.json()["detail"]
        assert "UPDATE_LOG_RETENTION_DAYS" in response.json()["detail"]
    assert owner_client.get(f"{compacted}versions/7/").status_code == 404


@pytest.mark.django_db
def test_restore_of_a_kept_version_works_and_of_a_removed_one_is_refused(
    owner_client: APIClient, compacted: str
) -> None:
    refused = owner_client.post(f"{compacted}restore/", {"seq": 3})
    assert refused.status_code == 400
    assert "retention" in refused.json()["seq"][0]
    restored = owner_client.post(f"{compacted}restore/", {"seq": 2})
    assert restored.status_code == 200
    assert restored.json()["text"] == "one two"
    assert restored.json()["seq"] == 7
    assert owner_client.get(f"{compacted}content/").json()["text"] == "one two"
    assert owner_client.get(f"{compacted}history/").json()["count"] == 5


@pytest.mark.django_db
def test_a_document_without_old_rows_keeps_every_version(owner_client: APIClient) -> None:
    document = make_document(owner=owner_client.user)  # type: ignore[attr-defined]
    url = f"/api/documents/{document.id}/"
    for text in TEXTS[:3]:
        owner_client.put(f"{url}content/", {"text": text})
    assert retention.document_compact(document_id=document.pk, cut=_cut()) is None
    history = owner_client.get(f"{url}history/").json()
    assert [(r["seq"], r["kind"]) for r in history["results"]] == [
        (3, "update"),
        (2, "update"),
        (1, "update"),
    ]
    assert owner_client.get(f"{url}versions/1/").json()["text"] == "one"


async def test_clients_after_compaction_get_the_whole_text(scene: Scene, db_call: Any) -> None:
    """A fresh client, a Tandem client resuming from a deleted seq and a room loaded again
    all converge on the text the log held before the retention ran."""
    writer = await scene.client(scene.owner, hello=0)
    follower = await scene.client(scene.editor, hello=0)
    for i in range(3):
        writer.append_paragraph(f"p{i}")
    await follower.wait_text("p0\np1\np2")
    await follower.close()
    for i in range(3, 8):
        writer.append_paragraph(f"p{i}")
    await writer.wait_for(lambda: len(writer.acks) >= 9)  # the empty step 2 and 8 writes
    expected = "\n".join(f"p{i}" for i in range(8))
    document_id = scene.document.pk

    await db_call(_age, document_id, through=6)
    done = await db_call(lambda: retention.document_compact(document_id=document_id, cut=_cut()))
    assert (done.through, done.deleted) == (6, 6)
    assert (
        await db_call(lambda: DocumentUpdate.objects.filter(document_id=document_id).count()) == 2
    )

    fresh = await scene.client(scene.viewer)
    await fresh.wait_text(expected)
    # Rows 4..6 are gone: the replay cannot serve them, sync step 2 brings them.
    resumed = await scene.client(scene.editor, doc=follower.doc, hello=3)
    await resumed.wait_for(lambda: resumed.head == 8)
    await resumed.wait_text(expected)

    for client in (writer, fresh, resumed):
        await client.close()

    async def room_closed() -> bool:
        snapshots = DocumentSnapshot.objects.filter(document_id=document_id, seq=8)
        return await db_call(snapshots.exists)

    await wait_until_async(room_closed, what="the idle room's final snapshot")
    reloaded = await scene.client(scene.viewer)
    await reloaded.wait_text(expected)
    head = await db_call(lambda: Document.objects.get(pk=document_id).head_seq)
    assert head == 8


@pytest.mark.django_db
def test_a_version_read_while_rows_are_being_deleted_is_refused_not_partial(
    owner_client: APIClient,
) -> None:
    """Mid-compaction (the snapshot at 4 stored, rows 1 and 2 deleted, 3 and 4 not yet), a
    version whose rows are partly gone answers 404, never a body missing updates."""
    document = make_document(owner=owner_client.user)  # type: ignore[attr-defined]
    url = f"/api/documents/{document.id}/"
    for text in TEXTS:
        owner_client.put(f"{url}content/", {"text": text})
    _room_snapshot(document.pk, 4)
    DocumentUpdate.objects.filter(document=document, seq__lte=2).delete()
    assert owner_client.get(f"{url}versions/3/").status_code == 404
    assert owner_client.get(f"{url}versions/4/").json()["text"] == "four"
    assert owner_client.get(f"{url}versions/5/").json()["text"] == "four five"
    assert owner_client.get(f"{url}content/").json()["text"] == "four five six"
