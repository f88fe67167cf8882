"""The periodic access check judges only connections it has fresh facts about.

A connection admitted while the check's queries ran may hold a grant the queries did not
see (or be missing from them): closing it would turn a just-shared document into 4404.
"""

from __future__ import annotations

import time

from backend.collab.core.close_codes import CloseCode
from backend.collab.core.ports import Access
from backend.collab.core.room import Room
from tests.collab.core.fakes import FakePeer, MemoryStore


def _room(*peers: FakePeer) -> Room:
    store = MemoryStore()
    room = Room(store.create(), store=store)
    for peer in peers:
        room.join(peer)
    return room


def test_a_connection_admitted_before_the_check_is_judged_by_it() -> None:
    peer = FakePeer(user_id=7, admitted_at=time.monotonic())
    room = _room(peer)
    room.apply_access(
        Access(can_write={}, inactive=frozenset(), generations={7: 0}), as_of=time.monotonic()
    )
    assert peer.closed == [CloseCode.NOT_FOUND]


def test_a_connection_admitted_during_the_check_waits_for_the_next_one() -> None:
    as_of = time.monotonic()
    peer = FakePeer(user_id=7, admitted_at=time.monotonic())
    room = _room(peer)
    room.apply_access(Access(can_write={}, inactive=frozenset(), generations={7: 0}), as_of=as_of)
    assert peer.closed == []


def test_a_user_the_check_did_not_ask_about_is_left_alone() -> None:
    peer = FakePeer(user_id=8, admitted_at=time.monotonic())
    room = _room(peer)
    room.apply_access(
        Access(can_write={}, inactive=frozenset(), generations={7: 0}), as_of=time.monotonic()
    )
    assert peer.closed == []


def test_a_role_change_applies_to_a_judged_connection() -> None:
    peer = FakePeer(user_id=7, admitted_at=time.monotonic())
    room = _room(peer)
    room.apply_access(
        Access(can_write={7: False}, inactive=frozenset(), generations={7: 0}),
        as_of=time.monotonic(),
    )
    assert peer.closed == []
    assert peer.can_write is False
