"""An update that arrives before the updates it builds on (yrs keeps it pending) is stored
like any other: acknowledged means in the database, whatever the order of arrival."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from backend.collab.api.selectors import document_state
from backend.collab.core import protocol
from backend.collab.models import DocumentSnapshot
from backend.documents.models import Document
from tests.support.scene import Scene
from tests.support.updates import hello_then_world, typed


@pytest.fixture
def server_overrides() -> dict[str, str]:
    # Snapshots land between the updates below; at most 3 parts of updates may wait.
    return {"SNAPSHOT_EVERY": "2", "ROOM_MAX_WAITING_UPDATES": "3"}


async def _send_in_order(scene: Scene, *updates: bytes) -> None:
    """Send ``updates`` in this order from one client and wait until all are acknowledged
    (its own sync step 2 counts as one)."""
    writer = await scene.client(scene.owner, hello=0)
    await writer.wait_for(lambda: writer.head is not None)
    for update in updates:
        await writer.send_raw(protocol.sync_update(update))
    await writer.wait_for(lambda: len(writer.acks) >= len(updates) + 1)


def _stored_text(scene: Scene) -> str:
    doc, _ = document_state(document=Document.objects.get(pk=scene.document.pk))
    return str(doc.get("t", type=Text))


async def test_an_update_arriving_before_its_dependency_is_stored(
    scene: Scene, db_call: Any
) -> None:
    first, second = hello_then_world()
    await _send_in_order(scene, second, first)  # second is pending: "hello" is not there yet
    assert await db_call(_stored_text, scene) == "hello world"
    reader = await scene.client(scene.viewer)
    assert str(reader.doc.get("t", type=Text)) == "hello world"


async def test_a_clients_later_update_arriving_before_its_earlier_one_is_stored(
    scene: Scene, db_call: Any
) -> None:
    first, second = typed("hello", " world")  # the same client: second is clocks 5..10
    await _send_in_order(scene, second, first)  # second is pending: clocks 0..4 are missing
    assert await db_call(_stored_text, scene) == "hello world"


def _unrelated(text: str) -> bytes:
    other: Doc[Any] = Doc()
    other.get("t", type=Text).insert(0, text)
    return other.get_update()


async def test_a_snapshot_taken_while_an_update_is_pending_keeps_it(
    scene: Scene, db_call: Any
) -> None:
    first, second = hello_then_world()
    writer = await scene.client(scene.owner, hello=0)
    await writer.wait_for(lambda: writer.head is not None)
    await writer.send_raw(protocol.sync_update(second))  # pending until "hello" arrives
    await writer.send_raw(protocol.sync_update(_unrelated("A")))
    await writer.send_raw(protocol.sync_update(_unrelated("B")))
    await writer.wait_for(lambda: len(writer.acks) >= 4)
    await writer.send_raw(protocol.sync_update(first))  # lands after the snapshot
    await writer.wait_for(lambda: len(writer.acks) >= 5)

    def stored() -> tuple[str, list[int]]:
        document = Document.objects.get(pk=scene.document.pk)
        doc, _ = document_state(document=document)
        snapshots = DocumentSnapshot.objects.filter(document=document)
        return str(doc.get("t", type=Text)), list(snapshots.values_list("seq", flat=True))

    text, snapshots = await db_call(stored)
    assert snapshots, "the room took no snapshot; the test proves nothing"
    assert "hello world" in text


async def test_a_deletion_arriving_before_what_it_deletes_is_stored(
    scene: Scene, db_call: Any
) -> None:
    first, _ = hello_then_world()  # inserts "hello"
    other: Doc[Any] = Doc()
    other.apply_update(first)
    before = other.get_state()
    del other.get("t", type=Text)[0:2]
    deletion = other.get_update(before)  # deletes "he": no items of its own
    await _send_in_order(scene, deletion, first)  # the deletion is pending: no "hello" yet
    assert await db_call(_stored_text, scene) == "llo"
    reader = await scene.client(scene.viewer)
    assert str(reader.doc.get("t", type=Text)) == "llo"


async def test_past_the_limit_an_update_that_would_wait_is_refused_with_4429(
    scene: Scene, db_call: Any
) -> None:
    """Updates that build on one never sent would pile up in memory (and be offered again
    on every change): past ROOM_MAX_WAITING_UPDATES the sender is closed, nothing of that
    update is stored, and everyone else is served as before."""
    updates = typed(*"abcde")
    reader = await scene.client(scene.viewer)
    flooder = await scene.client(scene.editor, hello=0)
    await flooder.wait_for(lambda: flooder.head is not None)
    for update in updates[1:4]:  # each waits for "a"
        await flooder.send_raw(protocol.sync_update(update))
    await flooder.wait_for(lambda: len(flooder.acks) >= 4)  # its sync step 2 and the three
    await flooder.send_raw(protocol.sync_update(updates[4]))  # a fourth would wait too
    assert await flooder.closed() == 4429
    await _send_in_order(scene, updates[0])  # "a" arrives: the three waiting ones follow
    assert await db_call(_stored_text, scene) == "abcd"
    await reader.wait_for(lambda: str(reader.doc.get("t", type=Text)) == "abcd")
