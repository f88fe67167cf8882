"""Awareness ownership: who may set, change and remove a client id's state (no server)."""

from __future__ import annotations

import json

import pytest

from backend.collab.core.awareness import AwarenessStates, with_user_name
from backend.collab.core.protocol import AwarenessEntry


def entry(client_id: int, clock: int, state: object) -> AwarenessEntry:
    return AwarenessEntry(client_id, clock, json.dumps(state))


def claim(states: AwarenessStates, owner: str, *entries: AwarenessEntry, user: int = 1) -> list:
    return states.claim(owner, user, entries, max_owned=8).accepted


def test_an_echo_of_someone_elses_state_is_ignored_and_not_attributed() -> None:
    states = AwarenessStates()
    alice = entry(1, 5, {"cursor": 1})
    assert claim(states, "a", alice) == [alice]
    assert claim(states, "b", alice, user=2) == []  # the echo
    assert claim(states, "b", entry(1, 9, {"cursor": 666}), user=2) == []  # a spoof, newer clock
    assert claim(states, "b", entry(1, 9, None), user=2) == []  # someone else's removal
    assert states.owned_by("b") == set()
    assert states.present() == [alice]
    assert states.release("b") == []  # closing the echoer removes nobody


def test_the_owner_changes_and_removes_its_own_state_by_clock() -> None:
    states = AwarenessStates()
    claim(states, "a", entry(1, 1, {"cursor": 1}))
    assert claim(states, "a", entry(1, 1, {"cursor": 2})) == []  # same clock: not newer
    assert claim(states, "a", entry(1, 2, {"cursor": 2})) == [entry(1, 2, {"cursor": 2})]
    assert claim(states, "a", entry(1, 3, None)) == [entry(1, 3, None)]
    assert states.present() == []
    assert states.owned_by("a") == set()


def test_closing_removes_only_owned_ids_at_their_clock_and_frees_them() -> None:
    states = AwarenessStates()
    claim(states, "a", entry(1, 4, {"x": 1}))
    claim(states, "b", entry(2, 7, {"x": 2}), entry(1, 4, {"x": 1}), user=2)
    assert states.release("a") == [AwarenessEntry(1, 4, "null")]
    assert [e.client_id for e in states.present()] == [2]
    assert claim(states, "b", entry(1, 4, {"x": 1}), user=2) == []  # a late echo: stale
    assert claim(states, "c", entry(1, 5, {"x": 1})) == [entry(1, 5, {"x": 1})]  # back, newer


def test_the_limit_counts_owned_ids_only() -> None:
    states = AwarenessStates()
    others = [entry(100 + i, 1, {}) for i in range(20)]
    for i, other in enumerate(others):
        claim(states, f"o{i}", other)
    result = states.claim("me", 1, [*others, entry(1, 1, {})], max_owned=1)
    assert not result.over_limit
    result = states.claim("me", 1, [entry(2, 1, {}), entry(3, 1, {})], max_owned=2)
    assert result.over_limit
    assert [e.client_id for e in result.accepted] == [2]


def test_remote_ids_belong_to_their_replica_until_removed_or_expired() -> None:
    states = AwarenessStates(timeout=0)
    remote = entry(9, 3, {"c": 1})
    assert states.apply_remote("r2", [remote], {9: 5}) == [remote]
    assert claim(states, "a", entry(9, 4, {"c": 2}), user=6) == []  # another user
    local = entry(1, 1, {})
    claim(states, "a", local)
    assert states.apply_remote("r2", [entry(1, 2, {"spoof": 1})], {1: 5}) == []
    assert states.expire() == [AwarenessEntry(9, 3, "null")]
    assert [e.client_id for e in states.present()] == [1]  # local owners do not expire


def test_a_client_moving_replicas_takes_its_id_over_with_a_newer_state() -> None:
    states = AwarenessStates()
    states.apply_remote("r2", [entry(9, 3, {"c": 1})], {9: 5})
    assert claim(states, "a", entry(9, 3, {"c": 1}), user=5) == []  # reconnect: same clock
    assert claim(states, "a", entry(9, 4, {"c": 2}), user=5) == [entry(9, 4, {"c": 2})]
    assert states.apply_remote("r2", [entry(9, 5, {"c": 3})], {9: 5}) == []
    assert states.release("a") == [AwarenessEntry(9, 4, "null")]


def test_the_name_beside_a_cursor_is_the_accounts() -> None:
    lie = entry(1, 1, {"user": {"name": "CEO", "color": "#f00"}, "cursor": None})
    stamped = json.loads(with_user_name(lie, "alice").state_json)
    assert stamped == {"user": {"name": "alice", "color": "#f00"}, "cursor": None}
    assert with_user_name(entry(1, 1, {"user": "CEO"}), "alice").state_json == (
        '{"user":{"name":"alice"}}'
    )
    plain = entry(1, 1, {"cursor": 3})
    assert with_user_name(plain, "alice") is plain  # no user field: left alone
    states = AwarenessStates()
    result = states.claim("a", 1, [lie], max_owned=8, stamp=lambda e: with_user_name(e, "alice"))
    assert json.loads(result.accepted[0].state_json)["user"]["name"] == "alice"


def test_echoes_are_not_parsed_again_but_anything_that_could_apply_is() -> None:
    from backend.collab.core import protocol

    held = AwarenessStates()
    claim(held, "a", entry(1, 5, {"cursor": 1}))

    def parse(*entries: AwarenessEntry) -> object:
        frame = protocol.awareness(list(entries))
        return protocol.parse(frame, max_awareness_state=1000, held=held.entry)

    # Left out, not parsed (such text would not be JSON anyway): an echo, a superseded one.
    text = held.entry(1).state_json  # type: ignore[union-attr]
    assert parse(AwarenessEntry(1, 5, text)) == protocol.AwarenessUpdate(entries=())
    assert parse(AwarenessEntry(1, 4, "{stale, and never applied")) == protocol.AwarenessUpdate(
        entries=()
    )
    # A renewal (the held text at a newer clock) is kept, without parsing it again.
    renewal = AwarenessEntry(1, 6, text)
    assert parse(renewal) == protocol.AwarenessUpdate(entries=(renewal,))
    for could_apply in (
        AwarenessEntry(1, 6, "{not json"),  # newer
        AwarenessEntry(1, 5, ""),  # same clock, different text (a removal would apply)
        AwarenessEntry(2, 1, "NaN"),  # an id nobody holds
    ):
        with pytest.raises(protocol.MalformedMessage):
            parse(could_apply)


def test_a_newer_state_of_the_same_user_takes_over_a_local_id() -> None:
    """Tab A echoed tab B's state (shared over BroadcastChannel) before B's socket opened:
    B's own next state takes its id back; another user's never does."""
    states = AwarenessStates()
    claim(states, "tab-a", entry(2, 1, {"c": 1}), user=5)
    assert claim(states, "tab-b", entry(2, 1, {"c": 1}), user=5) == []  # same clock: echo
    assert claim(states, "other", entry(2, 2, {"c": 9}), user=6) == []
    assert claim(states, "tab-b", entry(2, 2, {"c": 2}), user=5) == [entry(2, 2, {"c": 2})]
    assert states.owned_by("tab-a") == set()
    assert states.release("tab-a") == []
