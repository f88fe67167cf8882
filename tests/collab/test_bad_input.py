"""Malformed, oversized and abusive input closes only the sender; the document is unchanged."""

from __future__ import annotations

import pytest

from backend.collab.core import protocol
from tests.support.scene import Scene

BAD_FRAMES = {
    "empty": b"",
    "unknown type": b"\x07\x00",
    "truncated sync": b"\x00\x02\x10abc",
    "corrupt update": protocol.sync_update(b"\x01\x02garbage-bytes"),
    "varint overflow": b"\x00" + b"\xff" * 12,
    "unknown sync step": b"\x00\x09\x00",
    "trailing bytes": protocol.sync_update(protocol.EMPTY_UPDATE) + b"\x00",
    "awareness not json": b"\x01\x07\x01\x05\x01\x03{x}",
    "client sends ack": protocol.tandem_ack(3),
    # One item in the root "default" of a content kind (11) or shared type (7) that Yjs
    # cannot decode (yrs uses them for moves and weak links): refused before yrs sees them.
    "content Yjs cannot decode": protocol.sync_update(
        b"\x01\x01\x05\x00\x0b\x01\x07default\x00\x00"
    ),
    "type Yjs cannot decode": protocol.sync_update(b"\x01\x01\x05\x00\x07\x01\x07default\x07\x00"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
async def test_bad_frame_closes_only_its_sender(scene: Scene, name: str) -> None:
    alice = await scene.client(scene.owner)
    bob = await scene.client(scene.editor)
    alice.append_paragraph("intact")
    await bob.wait_text("intact")
    await bob.send_raw(BAD_FRAMES[name])
    assert await bob.closed() == 4400
    alice.append_paragraph("still served")
    fresh = await scene.client(scene.viewer)
    await fresh.wait_text("intact\nstill served")
    assert alice.text() == "intact\nstill served"


async def test_text_frame_is_refused(scene: Scene) -> None:
    client = await scene.client()
    await client.send_raw("hello")
    assert await client.closed() == 4400


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return {"WS_MAX_MESSAGE_BYTES": "4096", "WS_MAX_MESSAGES_PER_SECOND": "20"}


async def test_oversized_frame_closes_with_1009(scene: Scene) -> None:
    client = await scene.client()
    await client.send_raw(protocol.sync_update(b"\x00" * 5000))
    assert await client.closed() == 1009
    other = await scene.client()
    assert other.text() == ""


async def test_message_flood_closes_with_4429(scene: Scene) -> None:
    client = await scene.client()
    for _ in range(200):
        await client.send_raw(protocol.sync_step1(b"\x00"))
    assert await client.closed() == 4429


async def test_awareness_is_relayed_and_removed_when_its_client_leaves(scene: Scene) -> None:
    alice = await scene.client(scene.owner)
    bob = await scene.client(scene.viewer)
    await alice.set_awareness(42, 1, {"user": {"name": "Alice"}, "cursor": None})
    # The name shown is the account's (the owner's username), not the one the client chose.
    await bob.wait_for(lambda: bob.awareness.get(42, {}).get("user") == {"name": "owner"})
    late = await scene.client(scene.editor)
    await late.wait_for(lambda: 42 in late.awareness)
    await alice.drop()
    await bob.wait_for(lambda: 42 not in bob.awareness)
    await late.wait_for(lambda: 42 not in late.awareness)


async def test_viewer_awareness_is_relayed(scene: Scene) -> None:
    viewer = await scene.client(scene.viewer)
    owner = await scene.client(scene.owner)
    await viewer.set_awareness(7, 1, {"user": {"name": "Vi"}})
    await owner.wait_for(lambda: 7 in owner.awareness)
