"""Nothing acknowledged is lost: room unloads, restarts, snapshots, reconnects, many writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.documents.models import Document
from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.waiting import wait_until_async


async def test_document_survives_room_unload_and_server_restart(scene: Scene) -> None:
    writer = await scene.client(scene.owner, hello=0)
    for i in range(5):
        writer.append_paragraph(f"p{i}")
    await writer.wait_for(lambda: len(writer.acks) == 6)
    await writer.close()

    async def unloaded() -> bool:
        return await asyncio.to_thread(scene.server.metric, "tandem_rooms_open") == 0

    # The idle room unloads (ROOM_IDLE_SECONDS=0.2) with a final snapshot.
    await wait_until_async(unloaded, what="the idle room to unload")
    reader = await scene.client(scene.editor)
    await reader.wait_text("p0\np1\np2\np3\np4")
    await reader.close()

    scene.server.stop()
    scene.server.start()
    after = await scene.client(scene.viewer)
    await after.wait_text("p0\np1\np2\np3\np4")


async def test_acknowledged_updates_survive_kill_9(scene: Scene, db_call) -> None:
    writer = await scene.client(scene.owner, hello=0)
    for i in range(10):
        writer.append_paragraph(f"line {i}")
    await writer.wait_for(lambda: len(writer.acks) == 11)
    scene.server.kill()
    await writer.closed()
    scene.server.start()
    reader = await scene.client(scene.editor)
    await reader.wait_text("\n".join(f"line {i}" for i in range(10)))
    head = await db_call(lambda: Document.objects.get(pk=scene.document.pk).head_seq)
    assert head == 10


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return {"SNAPSHOT_EVERY": "10"}


async def test_snapshots_are_taken_and_loading_uses_them(scene: Scene, db_call) -> None:
    writer = await scene.client(scene.owner, hello=0)
    for i in range(25):  # one at a time: a burst may commit as one batch, one snapshot
        writer.append_paragraph(f"{i}")
        await writer.wait_for(lambda i=i: len(writer.acks) == i + 2)

    def snapshots() -> list[int]:
        rows = DocumentSnapshot.objects.filter(document=scene.document)
        return sorted(rows.values_list("seq", flat=True))

    seen: list[int] = []

    async def two_taken() -> bool:
        seen[:] = await db_call(snapshots)
        return len(seen) >= 2

    # The room saves a snapshot after it acknowledges the update.
    await wait_until_async(two_taken, what=lambda: f"two snapshots (seen at {seen})")
    assert seen[:2] == [10, 20]
    rows = await db_call(lambda: DocumentUpdate.objects.filter(document=scene.document).count())
    assert rows == 25  # compaction never drops log rows here
    reader = await scene.client(scene.editor)
    await reader.wait_text("\n".join(str(i) for i in range(25)))


async def test_reconnect_by_state_vector_gets_exactly_what_was_missed(scene: Scene) -> None:
    writer = await scene.client(scene.owner)
    away = await scene.client(scene.editor)
    writer.append_paragraph("seen")
    await away.wait_text("seen")
    await away.drop()
    for i in range(200):
        writer.append_paragraph(f"missed {i}")
    back = await scene.client(scene.editor, doc=away.doc)
    expected = "\n".join(["seen"] + [f"missed {i}" for i in range(200)])
    await back.wait_text(expected)
    await writer.wait_text(expected)


async def test_offline_edits_merge_on_reconnect(scene: Scene) -> None:
    alice = await scene.client(scene.owner)
    bob = await scene.client(scene.editor)
    alice.append_paragraph("shared")
    await bob.wait_text("shared")
    await bob.drop()
    bob.append_paragraph("bob offline")  # not sent: the socket is gone
    alice.append_paragraph("alice online")
    await alice.wait_text("shared\nalice online")
    back = await scene.client(scene.editor, doc=bob.doc)
    await alice.wait_for(lambda: len(alice.body.children) == 3)
    await back.wait_for(lambda: back.text() == alice.text())
    assert sorted(alice.text().split("\n")) == ["alice online", "bob offline", "shared"]


async def test_sequence_numbers_stay_gap_free_with_two_writing_processes(
    scene: Scene, tmp_path: Path, db_call
) -> None:
    second = TandemProcess(server_env(LOG_CHECK_SECONDS="0.5"), log_path=tmp_path / "b.log")
    with second:
        writers = [await scene.client(scene.owner), await scene.client(scene.editor)]
        writers.append(await scene.client(scene.owner, on=second))
        for round_ in range(15):
            for n, client in enumerate(writers):
                client.append_paragraph(f"{n}-{round_}")
            await asyncio.sleep(0.01)  # rounds interleave across the two processes
        for client in writers:
            await client.wait_for(lambda c=client: len(c.body.children) == 45, timeout=20)
        texts = {client.text() for client in writers}
        assert len(texts) == 1
        seqs = await db_call(
            lambda: list(
                DocumentUpdate.objects.filter(document=scene.document)
                .order_by("seq")
                .values_list("seq", flat=True)
            )
        )
        assert seqs == list(range(1, 46))
