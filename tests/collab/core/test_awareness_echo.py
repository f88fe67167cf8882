"""Echoes of relayed awareness frames, recognised by their bytes (protocol.SentAwareness).

A standard client answers each awareness frame with the entries that were news to it; the
room predicts that answer and drops it unparsed. The prediction is judged against a real
y-websocket provider (tests/collab/node/echo.mjs); the room must still parse anything else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.collab.core import protocol
from backend.collab.core.ports import RoomMetrics
from backend.collab.core.protocol import AwarenessEntry, SentAwareness
from backend.collab.core.room import Room, RoomLimits
from tests.collab.core.fakes import FakePeer, MemoryStore
from tests.support.node import run_script
from tests.support.waiting import wait_until_async

OWN = 7  # the provider's client id in echo.mjs


def _entry(client_id: int, clock: int, state: object) -> AwarenessEntry:
    # JSON.stringify's form, as every state a client sends is
    text = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    return AwarenessEntry(client_id=client_id, clock=clock, state_json=text)


def _cursor(name: str, at: int) -> dict[str, object]:
    return {"user": {"name": name, "color": "#a1b2c3"}, "cursor": {"anchor": at, "head": at}}


async def test_a_real_provider_answers_a_relayed_frame_with_the_predicted_echo(
    tmp_path: Path,
) -> None:
    own = _entry(OWN, 1, {"user": {"name": "me", "color": "#123456"}})
    odd = _entry(13, 1, {"nested": [1, 2.5, None, True], "quote": 'say "hi"'})
    first = SentAwareness.of(
        [_entry(11, 3, _cursor("Zoë 名前 🙂", 1)), own, _entry(12, 9, _cursor("b", 2)), odd]
    )
    # The next tick: renewals and moves, in another order, the provider's own entry first.
    second = SentAwareness.of([own, _entry(13, 2, _cursor("c", 5)), _entry(11, 4, _cursor("a", 6))])
    # A client it has not seen yet comes after one it has: its answer puts the new one first
    # (y-protocols lists added before updated), so the room parses it.
    third = SentAwareness.of([_entry(12, 10, _cursor("b", 3)), _entry(14, 1, _cursor("d", 1))])
    sent = [first, second, third]
    spec = tmp_path / "echo.json"
    frames = [base64.b64encode(frame.frame).decode() for frame in sent]
    spec.write_text(json.dumps({"clientID": OWN, "ownClock": 1, "frames": frames}))

    result = await run_script("echo.mjs", {"ECHO_INPUT": str(spec)}, timeout=60)

    answers = [[base64.b64decode(frame) for frame in heard] for heard in result["answers"]]
    assert answers[0] == [first.echo({OWN})]
    assert answers[1] == [second.echo({OWN})]
    assert len(answers[2]) == 1
    assert answers[2][0] != third.echo({OWN})
    assert first.echo(set()) == first.frame  # a client owning nothing in it answers it whole


class _Counting(RoomMetrics):
    def __init__(self) -> None:
        self.echoes = 0

    def awareness_echo(self) -> None:
        self.echoes += 1


@pytest.fixture
def metrics() -> _Counting:
    return _Counting()


@pytest.fixture
async def room(metrics: _Counting) -> AsyncIterator[Room]:
    store = MemoryStore()
    limits = RoomLimits(awareness_tick=0.01)
    opened = Room(store.create(), store=store, limits=limits, metrics=metrics)
    await opened.load()
    yield opened
    store.release()
    await opened.close()


def _relayed(peer: FakePeer) -> list[tuple[AwarenessEntry, ...]]:
    """The awareness frames ``peer`` received, as their entries."""
    found = []
    for frame in peer.frames:
        if frame[0] == protocol.MessageType.AWARENESS:
            message = protocol.parse(frame, max_awareness_state=1 << 20)
            assert isinstance(message, protocol.AwarenessUpdate)
            found.append(message.entries)
    return found


async def test_echoes_are_dropped_unparsed_and_anything_else_is_still_applied(
    room: Room, metrics: _Counting
) -> None:
    ada, bob, cy = FakePeer(1, "ada"), FakePeer(2, "bob"), FakePeer(3, "cy")
    for peer in (ada, bob, cy):
        room.join(peer)
    await room.flush()
    room.receive(ada, protocol.awareness([_entry(1, 1, _cursor("ada", 1))]))
    room.receive(bob, protocol.awareness([_entry(2, 1, _cursor("bob", 2))]))
    await wait_until_async(lambda: _relayed(cy), what="the first relayed frame")
    [relayed] = _relayed(cy)
    frame = protocol.awareness(relayed)
    assert [entry.client_id for entry in relayed] == [1, 2]

    room.receive(cy, frame)  # cy owns nothing in it: the whole frame comes back
    room.receive(bob, SentAwareness.of(relayed).echo({2}))  # all but bob's own entry
    assert metrics.echoes == 2

    # Not an echo: ada's newer cursor beside bob's entry echoed. Parsed, and ada's applied.
    moved = _entry(1, 2, _cursor("ada", 9))
    room.receive(cy, protocol.awareness([relayed[1], moved]))
    room.receive(ada, protocol.awareness([moved, relayed[1]]))
    await wait_until_async(lambda: len(_relayed(cy)) > 1, what="the second relayed frame")
    assert metrics.echoes == 2
    assert _relayed(cy)[1:] == [(moved,)]  # cy's copy of bob's entry changed nothing
    assert room.awareness.entry(1) == moved
