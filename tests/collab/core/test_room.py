"""The room's commit path, without a server: an in-memory log and fake connections.

What the room promises (docs/architecture.md, "The room"): an update reaches other
connections and is acknowledged only after its commit; every connection sees the log's
order; a failed commit closes every connection with 1013; a gap is repaired from the log;
a viewer's write is refused and not stored; too many waiting parts close with 4429.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from backend.collab.core import protocol
from backend.collab.core.close_codes import CloseCode
from backend.collab.core.room import VIEWER_DENIED, Room, RoomLimits
from tests.collab.core.fakes import FakePeer, MemoryStore, Typist, text_of


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def rooms(store: MemoryStore) -> AsyncIterator[list[Room]]:
    opened: list[Room] = []
    yield opened
    store.release()
    for room in opened:
        await room.close()


async def _open(store: MemoryStore, rooms: list[Room], *peers: FakePeer, **limits: int) -> Room:
    room = Room(store.create(), store=store, limits=RoomLimits(**limits), on_dead=rooms.remove)
    rooms.append(room)
    await room.load()
    for peer in peers:
        room.join(peer)
    await room.flush()
    return room


async def test_an_update_reaches_others_only_once_committed(
    store: MemoryStore, rooms: list[Room]
) -> None:
    writer, reader = FakePeer(user_id=1), FakePeer(user_id=2)
    room = await _open(store, rooms, writer, reader)
    update = Typist().type("hello")
    store.hold()
    room.receive(writer, protocol.sync_update(update))
    await asyncio.wait_for(store.appending.wait(), 1)
    assert reader.updates() == [], "delivered before its commit"
    store.release()
    await room.flush()
    assert reader.updates() == [update]
    assert writer.updates() == [], "the sender got its own update back"
    assert store.stored(room.document_id) == [update]


async def test_the_acknowledgement_follows_the_commit(
    store: MemoryStore, rooms: list[Room]
) -> None:
    writer = FakePeer()
    room = await _open(store, rooms, writer)
    room.receive(writer, protocol.hello(0))
    await room.flush()
    store.hold()
    room.receive(writer, protocol.sync_update(Typist().type("hello")))
    await asyncio.wait_for(store.appending.wait(), 1)
    assert writer.tandem() == [("head", 0)]
    store.release()
    await room.flush()
    assert writer.tandem() == [("head", 0), ("ack", 1)]


async def test_everyone_receives_the_log_in_its_order(
    store: MemoryStore, rooms: list[Room]
) -> None:
    ada, bob, watcher = FakePeer(user_id=1), FakePeer(user_id=2), FakePeer(user_id=3)
    room = await _open(store, rooms, ada, bob, watcher)
    room.receive(watcher, protocol.hello(0))
    typists = {ada: Typist(), bob: Typist()}
    typed: dict[FakePeer, list[bytes]] = {ada: [], bob: []}
    for n in range(20):  # queued together: several commits of several updates each
        peer = ada if n % 3 else bob
        typed[peer].append(typists[peer].type(f"{n},"))
        room.receive(peer, protocol.sync_update(typed[peer][-1]))
    await room.flush()
    stored = store.stored(room.document_id)
    assert len(stored) == 20
    assert room.head == 20
    assert [seq for kind, seq in watcher.tandem() if kind == "update"] == list(range(1, 21))
    assert watcher.numbered_updates() == stored
    assert len(ada.updates()) == len(typed[bob])
    assert len(bob.updates()) == len(typed[ada])
    whole = text_of(stored)
    assert text_of(typed[ada] + ada.updates()) == text_of(typed[bob] + bob.updates()) == whole


async def test_a_failed_commit_closes_every_connection_with_1013(
    store: MemoryStore, rooms: list[Room]
) -> None:
    writer, reader = FakePeer(user_id=1), FakePeer(user_id=2)
    room = await _open(store, rooms, writer, reader)
    store.fail = RuntimeError("the database went away")
    room.receive(writer, protocol.sync_update(Typist().type("lost?")))
    await room.flush()
    assert writer.closed == reader.closed == [CloseCode.TRY_AGAIN_LATER]
    assert reader.updates() == []
    assert room.dead
    assert room not in rooms
    assert store.stored(room.document_id) == []


async def test_a_deleted_document_closes_every_connection_with_4404(
    store: MemoryStore, rooms: list[Room]
) -> None:
    writer, reader = FakePeer(user_id=1), FakePeer(user_id=2)
    room = await _open(store, rooms, writer, reader)
    del store.logs[room.document_id]
    room.receive(writer, protocol.sync_update(Typist().type("too late")))
    await room.flush()
    assert writer.closed == reader.closed == [CloseCode.NOT_FOUND]


@pytest.mark.parametrize("news", ["update", "hint"])
async def test_a_gap_is_repaired_from_the_log(
    store: MemoryStore, rooms: list[Room], news: str
) -> None:
    reader = FakePeer()
    room = await _open(store, rooms, reader)
    elsewhere = Typist()
    updates = [elsewhere.type(chunk) for chunk in ("one ", "two ", "three")]
    for update in updates:  # committed by another replica; the layer lost the first two
        store.commit_elsewhere(room.document_id, update)
    if news == "update":
        room.remote_update(3, updates[2])
    else:
        room.observe_head(3)
    await room.flush()
    assert reader.updates() == updates
    assert room.head == 3
    assert text_of(reader.updates()) == "one two three"


async def test_a_reconnecting_client_is_replayed_what_it_missed(
    store: MemoryStore, rooms: list[Room]
) -> None:
    writer, returning = FakePeer(user_id=1), FakePeer(user_id=2)
    room = await _open(store, rooms, writer)
    typist = Typist()
    for chunk in ("a", "b", "c"):
        room.receive(writer, protocol.sync_update(typist.type(chunk)))
    await room.flush()
    room.join(returning)
    room.receive(returning, protocol.hello(1))
    await room.flush()
    assert returning.tandem() == [("update", 2), ("update", 3), ("head", 3)]


async def test_a_viewer_is_refused_once_and_nothing_is_stored(
    store: MemoryStore, rooms: list[Room]
) -> None:
    viewer, editor = FakePeer(user_id=1, can_write=False), FakePeer(user_id=2)
    room = await _open(store, rooms, viewer, editor)
    typist = Typist()
    room.receive(viewer, protocol.sync_update(typist.type("no")))
    room.receive(viewer, protocol.sync_update(typist.type("pe")))
    room.receive(viewer, protocol.sync_step2(protocol.EMPTY_UPDATE))  # not a write attempt
    await room.flush()
    assert viewer.frames.count(protocol.permission_denied(VIEWER_DENIED)) == 1
    assert viewer.closed == []
    assert editor.updates() == []
    assert store.stored(room.document_id) == []


async def test_too_many_waiting_parts_close_with_4429(
    store: MemoryStore, rooms: list[Room]
) -> None:
    writer, reader = FakePeer(user_id=1), FakePeer(user_id=2)
    room = await _open(store, rooms, writer, reader, max_waiting=1)
    typist = Typist()
    first, second, third = (typist.type(c) for c in "abc")
    room.receive(writer, protocol.sync_update(second))  # builds on `first`: waits
    await room.flush()
    assert writer.closed == []
    room.receive(writer, protocol.sync_update(third))  # would be a second waiting part
    await room.flush()
    assert writer.closed == [CloseCode.TOO_MANY]
    assert store.stored(room.document_id) == [second]
    room.receive(reader, protocol.sync_update(first))  # the gap filled: all three apply
    await room.flush()
    assert text_of(store.stored(room.document_id)) == "ab"


async def test_a_write_the_store_refuses_is_neither_kept_nor_sent(
    store: MemoryStore, rooms: list[Room]
) -> None:
    """An editor removed while their write waited for the commit: the store refuses it (its
    lock orders the write after the removal). The room drops it from its Doc too, so no
    later snapshot or newcomer gets it, and that connection writes no more."""
    owner, removed, reader = FakePeer(user_id=1), FakePeer(user_id=2), FakePeer(user_id=3)
    room = await _open(store, rooms, owner, removed, reader)
    room.receive(removed, protocol.hello(0))
    first, kept, later = Typist(), Typist(), Typist()
    room.receive(owner, protocol.sync_update(first.type("kept ")))
    await room.flush()
    store.refused = {2}
    store.hold()
    room.receive(removed, protocol.sync_update(later.type("refused")))
    await asyncio.wait_for(store.appending.wait(), 1)
    room.receive(owner, protocol.sync_update(kept.type("too")))
    store.release()
    await room.flush()
    room.receive(removed, protocol.sync_update(later.type(" and more")))
    await room.flush()
    assert text_of(store.stored(room.document_id)) == text_of(reader.updates())
    assert "refused" not in text_of(reader.updates())
    assert text_of([room.doc.get_update()]) == text_of(store.stored(room.document_id))
    assert removed.can_write is False
    assert protocol.permission_denied(VIEWER_DENIED) in removed.frames
    assert ("ack", 2) not in removed.tandem(), "a refused write was acknowledged"
    assert room.head == len(store.stored(room.document_id)) == 2
