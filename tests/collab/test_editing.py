"""Co-editing through a real server process with real Yjs (pycrdt) clients."""

from __future__ import annotations

import asyncio

from backend.collab.models import DocumentUpdate
from backend.documents.models import Document
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async


async def test_two_clients_converge(scene: Scene) -> None:
    alice = await scene.client(scene.owner)
    bob = await scene.client(scene.editor, slash=True)
    alice.append_paragraph("Hello")
    await bob.wait_text("Hello")
    bob.type_into(0, 5, ", world")
    await alice.wait_text("Hello, world")
    assert bob.text() == alice.text()


async def test_updates_are_stored_with_gap_free_sequence_numbers(scene: Scene, db_call) -> None:
    alice = await scene.client(scene.owner)
    bob = await scene.client(scene.editor)
    for i in range(20):
        (alice if i % 2 else bob).append_paragraph(f"line {i}")
        await asyncio.sleep(0)  # the two clients' writes interleave
    expected = "\n".join(f"line {i}" for i in range(20))
    await alice.wait_for(lambda: len(alice.body.children) == 20)
    await bob.wait_for(lambda: len(bob.body.children) == 20)
    assert alice.text() == bob.text()
    assert sorted(alice.text().split("\n")) == sorted(expected.split("\n"))
    seqs = await db_call(
        lambda: list(
            DocumentUpdate.objects.filter(document=scene.document)
            .order_by("seq")
            .values_list("seq", flat=True)
        )
    )
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) == 20


async def test_viewer_receives_but_cannot_write(scene: Scene, db_call) -> None:
    owner = await scene.client(scene.owner)
    viewer = await scene.client(scene.viewer)
    owner.append_paragraph("Read me")
    await viewer.wait_text("Read me")
    viewer.append_paragraph("Vandalism")
    await viewer.wait_for(lambda: bool(viewer.denied))
    assert "read-only" in viewer.denied[0]
    owner.append_paragraph("Still mine")
    await owner.wait_text("Read me\nStill mine")
    late = await scene.client(scene.editor)
    await late.wait_text("Read me\nStill mine")
    count = await db_call(lambda: DocumentUpdate.objects.filter(document=scene.document).count())
    assert count == 2


async def test_acks_and_sequence_numbers_for_opted_in_clients(scene: Scene) -> None:
    writer = await scene.client(scene.owner, hello=0)
    reader = await scene.client(scene.editor, hello=0)
    await writer.wait_for(lambda: writer.head == 0)
    for i in range(3):
        writer.append_paragraph(f"p{i}")
    # One ack per update message sent after the hello, the empty sync step 2 included.
    await writer.wait_for(lambda: len(writer.acks) == 4)
    assert writer.acks == [0, 1, 2, 3]
    await reader.wait_for(lambda: reader.seqs == [1, 2, 3])
    assert reader.text() == "p0\np1\np2"


async def test_reconnect_with_since_replays_only_missed_updates(scene: Scene, db_call) -> None:
    writer = await scene.client(scene.owner)
    for i in range(5):
        writer.append_paragraph(f"p{i}")
    follower = await scene.client(scene.editor, hello=0)
    await follower.wait_text("p0\np1\np2\np3\np4")
    await follower.close()
    for i in range(5, 8):
        writer.append_paragraph(f"p{i}")

    async def stored() -> bool:
        return await db_call(lambda: Document.objects.get(pk=scene.document.pk).head_seq) == 8

    await wait_until_async(stored, what="the missed updates to be stored")
    # Reconnect with the last sequence number seen: only 6..8 are replayed, in order.
    resumed = await scene.client(scene.editor, doc=follower.doc, hello=5)
    await resumed.wait_for(lambda: resumed.head == 8)
    assert resumed.seqs == [6, 7, 8]
    assert resumed.text() == "\n".join(f"p{i}" for i in range(8))
