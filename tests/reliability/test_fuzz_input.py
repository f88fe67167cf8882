"""Fuzzing the WebSocket message handling: ``protocol.parse`` at high volume, random frames
against a real server, and real y-websocket clients on the receiving end of bad frames.

Every frame either parses (and is served) or closes only its own connection with a
documented code; the document stays unchanged and the process keeps serving; nothing a
client would fail to decode is ever relayed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import write_var_uint

from backend.collab.core import protocol
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.factories import token_for
from tests.support.node import NODE_DIR
from tests.support.scene import Scene
from tests.support.servers import TandemProcess

DOCUMENTED = {1000, 1009, 4400, 4429}


def varint(n: int) -> bytes:
    return bytes(write_var_uint(n))


def _var_bytes(data: bytes) -> bytes:
    return varint(len(data)) + data


def awareness_frame(entries: list[tuple[int, int, bytes]]) -> bytes:
    body = varint(len(entries)) + b"".join(
        varint(c) + varint(k) + _var_bytes(s) for c, k, s in entries
    )
    return varint(1) + _var_bytes(body)


# Frames built to be almost right: the interesting inputs for a strict parser.
numbers = st.one_of(st.integers(0, 300), st.integers(0, 2**64), st.just(2**53), st.just(2**53 - 1))
overflow = st.integers(9, 14).map(lambda n: b"\xff" * n + b"\x01")
json_states = st.one_of(
    st.sampled_from(
        [
            b"",
            b"null",
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"{x}",
            b"[1,",
            b"{}",
            b'{"user":{"name":"\\ud800"}}',
            b"\xff\xfe",
            b"1e999",
            b'"' + b"a" * 70000 + b'"',
        ]
    ),
    st.binary(max_size=40),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
        ),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode()),
)
frames = st.one_of(
    st.binary(max_size=64),
    overflow,
    st.tuples(numbers, st.binary(max_size=32)).map(lambda t: varint(t[0]) + t[1]),
    st.tuples(st.integers(0, 4), st.binary(max_size=48)).map(
        lambda t: b"\x00" + varint(t[0]) + _var_bytes(t[1])
    ),
    st.tuples(st.integers(0, 2), st.binary(max_size=48), st.integers(-3, 3)).map(
        lambda t: (b"\x00" + varint(t[0]) + _var_bytes(t[1]))[: max(1, len(t[1]) + t[2])]
    ),
    st.lists(st.tuples(numbers, numbers, json_states), max_size=3).map(awareness_frame),
    st.tuples(st.integers(0, 5), numbers).map(lambda t: b"\x64" + varint(t[0]) + varint(t[1])),
    st.binary(max_size=40).map(lambda b: protocol.sync_update(b"\x01\x01" + b)),
)


def test_parse_fuzz_at_volume() -> None:
    """``parse`` either returns a message or raises MalformedMessage, for any bytes."""
    figures = Figures("protocol.parse fuzz (hypothesis)")
    examples = harness.size(3000, 50_000)
    count = 0

    @settings(max_examples=examples, deadline=None, database=None)
    @given(frame=frames)
    def check(frame: bytes) -> None:
        nonlocal count
        count += 1
        try:
            message = protocol.parse(frame, max_awareness_state=65536)
        except protocol.MalformedMessage:
            return
        if isinstance(message, protocol.AwarenessUpdate):
            for entry in message.entries:
                # What the server would relay must decode for a JavaScript client.
                assert entry.state_json == "null" or _js_json_ok(entry.state_json), entry

    check()
    figures.trials = 1
    figures.inputs = count
    harness.record(figures)


def _js_json_ok(text: str) -> bool:
    """JSON.parse accepts it (Python's json also takes NaN and Infinity; JavaScript does not)."""
    try:
        json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    except ValueError:
        return False
    return True


SERVED = "served"  # still open, and it answered a sync step 1 sent after the frame
ABORTED = "closed without a close frame"  # a crash or an abort, never allowed
SILENT = "neither answered nor closed in 5 s"


async def _send_one(url: str, frame: bytes) -> int | str:
    """Open a connection, send ``frame``, then a sync step 1; return the close code the
    server sent, ``SERVED`` if the step 1 was answered, ``ABORTED`` if the connection ended
    without a close frame, or ``SILENT``."""
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        try:
            await ws.send(frame)
            await ws.send(protocol.sync_step1(b"\x00"))  # a probe the server answers when alive
            while True:
                reply = await asyncio.wait_for(ws.recv(), 5)
                if isinstance(reply, bytes) and reply[:2] == b"\x00\x01":
                    return SERVED
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else ABORTED
        except TimeoutError:
            return SILENT


def _allowed(frame: bytes) -> set[int | str]:
    """What the server may do with ``frame`` (docs/protocol.md, close codes): a frame the
    parser refuses is closed with 4400 (1009 if too large); one it accepts is served, or
    refused later with a documented code (a corrupt update, an awareness limit: 4400)."""
    try:
        protocol.parse(frame, max_awareness_state=65536)
    except protocol.MalformedMessage:
        return {4400, 1009}
    return {SERVED, *DOCUMENTED}


@pytest.fixture
def scene_sync(server: TandemProcess) -> Iterator[tuple[Scene, TandemProcess, Any]]:
    """The scene of tests/collab for a synchronous (hypothesis) test, with its own loop."""
    loop = asyncio.new_event_loop()
    made = Scene(server)
    yield made, server, loop
    for client in made.clients:
        loop.run_until_complete(client.close())
    loop.close()


def test_random_frames_against_a_real_server(scene_sync: Any) -> None:
    scene, server, loop = scene_sync
    figures = Figures("WebSocket frame fuzz (real server)")
    rss_before = server.rss_kb()
    examples = harness.size(150, 1500)
    outcomes: dict[Any, int] = {}
    watcher = loop.run_until_complete(scene.client(scene.viewer))
    before = watcher.text()
    url = scene.url(scene.editor)

    @settings(max_examples=examples, deadline=None, database=None)
    @given(frame=frames)
    def check(frame: bytes) -> None:
        outcome = loop.run_until_complete(_send_one(url, frame))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert outcome in _allowed(frame), (frame, outcome)

    check()
    # Nothing the fuzzer sent changed the body (random updates never decode as valid ones
    # that insert text; if one ever did, the fresh client below still has to agree).
    fresh = loop.run_until_complete(scene.client(scene.owner))
    assert fresh.text() == watcher.text() == before
    assert server.alive
    figures.trials, figures.inputs = 1, sum(outcomes.values())
    figures.rss_before_kb, figures.rss_after_kb = rss_before, server.rss_kb()
    figures.note = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items(), key=str))
    harness.record(figures)


async def test_nothing_undecodable_reaches_real_yjs_clients(scene: Scene) -> None:
    """Frames a y-websocket client could not decode are refused (4400), never relayed: a
    real WebsocketProvider listening throughout raises no error and still gets live edits."""
    marker = "still-live"
    env = {
        **os.environ,
        "WS_URL": f"{scene.server.ws_url}/ws/documents",
        "DOC_ID": str(scene.document.id),
        "TOKEN": token_for(scene.viewer),
        "MARKER": marker,
        "NAME": scene.owner.username,  # the server shows the account's name
    }
    node = await asyncio.create_subprocess_exec(
        "node", "receive.mjs", cwd=NODE_DIR, env=env, stdout=subprocess.PIPE
    )
    assert node.stdout is not None
    assert (await asyncio.wait_for(node.stdout.readline(), 20)).strip() == b"ready"
    sender = await scene.client(scene.editor)
    await sender.set_awareness(501, 1, {"user": {"name": "first"}})
    bad = {
        "NaN state": awareness_frame([(501, 2, b"NaN")]),
        "Infinity state": awareness_frame([(502, 1, b'{"x": Infinity}')]),
        "empty state": awareness_frame([(501, 3, b"")]),
        "not JSON": awareness_frame([(503, 1, b"{x}")]),
        "not UTF-8": awareness_frame([(504, 1, b'"\xff"')]),
        "corrupt update": protocol.sync_update(b"\x01\x02garbage"),
        "truncated update": protocol.sync_update(protocol.EMPTY_UPDATE)[:-1],
    }
    codes = {}
    for name, frame in bad.items():
        probe = await scene.client(scene.editor)
        await probe.send_raw(frame)
        try:
            codes[name] = await probe.closed(timeout=3)
        except TimeoutError:
            codes[name] = None  # accepted: still open
    writer = await scene.client(scene.owner)
    await writer.set_awareness(777, 1, {"user": {"name": marker}})
    writer.append_paragraph(marker)
    out, _ = await asyncio.wait_for(node.communicate(), 40)
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert (codes, result["errors"]) == (dict.fromkeys(bad, 4400), [])
    assert node.returncode == 0
    names = [s["state"].get("user", {}).get("name") for s in result["states"] if s["state"]]
    assert scene.owner.username in names


async def test_huge_awareness_and_many_client_ids_close_only_the_sender(scene: Scene) -> None:
    alice = await scene.client(scene.owner)
    alice.append_paragraph("intact")
    bob = await scene.client(scene.editor)
    await bob.wait_text("intact")
    huge = json.dumps({"user": {"name": "x" * 70_000}}).encode()
    await bob.send_raw(awareness_frame([(9, 1, huge)]))
    assert await bob.closed() == 4400
    carol = await scene.client(scene.editor)
    await carol.send_raw(awareness_frame([(100 + i, 1, b"{}") for i in range(20)]))
    assert await carol.closed() == 4400
    fresh = await scene.client(scene.viewer)
    assert fresh.text() == "intact"


async def test_removal_of_a_cursor_at_the_largest_clock_stays_decodable(scene: Scene) -> None:
    """A state at clock 2**53 - 1 (the largest lib0 number) is removed at that same clock
    when its client leaves, not at 2**53, which no JavaScript client could decode."""
    observer = await scene.client(scene.viewer)
    leaving = await scene.client(scene.editor)
    await leaving.set_awareness(77, protocol.MAX_VAR_UINT, {"user": {"name": "max"}})
    await observer.wait_for(lambda: 77 in observer.awareness)
    await leaving.close()
    await observer.wait_for(lambda: 77 not in observer.awareness)
    assert observer.close_code is None
