"""What y-websocket 3.x's WebsocketProvider (with y-protocols' Awareness) does, against a real
server: each test is one row of docs/protocol.md, "What standard clients do".

The providers run in tests/collab/node/probe.mjs, which records every frame they send and
receive, so a test can check the wire as well as what the provider shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from backend.collab.core import protocol
from backend.documents.models import Role
from tests.support.factories import make_document, token_for
from tests.support.node import NODE_DIR
from tests.support.providers import room_members
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async

Report = dict[str, Any]

VIEWER_DENIED = "read-only: you are a viewer of this document"


class Probe:
    """One probe.mjs process: real providers, driven one command at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def call(self, op: str, **fields: Any) -> Any:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, "probe.mjs exited"
        answer = json.loads(line)
        assert answer["ok"], answer["error"]
        return answer["result"]

    async def open(self, name: str, scene: Scene, account: Any, **options: Any) -> int:
        """A provider for ``account`` on the scene's document (or ``doc``); returns its id."""
        options.setdefault("url", f"{scene.server.ws_url}/ws/documents")
        options.setdefault("doc", str(scene.document.id))
        options.setdefault("token", token_for(account))
        opened = await self.call("open", name=name, **options)
        return int(opened["clientID"])

    async def report(self, name: str) -> Report:
        result: Report = await self.call("report", name=name)
        return result

    async def until(
        self, name: str, check: Callable[[Report], bool], timeout: float = 15
    ) -> Report:
        """Poll ``name``'s report until ``check`` holds; fail with the last one."""
        last: Report = {}

        async def holds() -> bool:
            last.clear()
            last.update(await self.report(name))
            return check(last)

        def summary() -> str:
            seen = {k: v for k, v in last.items() if k not in ("sent", "received")}
            return f"{name} to get there: {seen}"

        await wait_until_async(holds, timeout=timeout, every=0.1, what=summary)
        return last


@pytest.fixture
async def start_probe() -> AsyncIterator[Callable[[], Awaitable[Probe]]]:
    started: list[asyncio.subprocess.Process] = []

    async def start() -> Probe:
        process = await asyncio.create_subprocess_exec(
            "node",
            "probe.mjs",
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,  # one report line holds every frame seen
        )
        started.append(process)
        return Probe(process)

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.fixture
async def probe(start_probe: Callable[[], Awaitable[Probe]]) -> Probe:
    return await start_probe()


def awareness_entries(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for frame in frames if frame.get("type") == 1 for entry in frame["entries"]]


def sync_frames(frames: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == 0 and f["step"] == step]


def sees(client_id: int, *, but_not: int | None = None) -> Callable[[Report], bool]:
    return lambda r: str(client_id) in r["states"] and str(but_not) not in r["states"]


# --- connecting --------------------------------------------------------------------------


async def test_a_provider_opens_with_step_1_and_its_state_and_is_answered_with_step_2(
    scene: Scene, probe: Probe
) -> None:
    watcher = await scene.client(scene.editor)
    # A trailing slash on the server URL is stripped; the room name and params follow it.
    url = f"{scene.server.ws_url}/ws/documents//"
    a = await probe.open("a", scene, scene.owner, url=url)
    report = await probe.until("a", lambda r: r["synced"])
    first, second = report["sent"][:2]
    assert (first["type"], first["step"]) == (0, 0)  # sync step 1, before anything arrives
    assert [(e["id"], e["clock"]) for e in second["entries"]] == [(a, 0)]  # its own state
    # It answers the server's step 1 with a step 2 (empty here: it has nothing the server lacks).
    assert sync_frames(report["received"], 0)
    assert sync_frames(report["sent"], 1)
    assert sync_frames(report["received"], 1)  # the server's step 2: what makes it synced
    # A provider that never set a field still has the state {}: no user field, left alone.
    await watcher.wait_for(lambda: watcher.awareness.get(a) == {})
    # Binary frames only, and only the types a plain client knows (no 100, no 3).
    assert all(not f.get("text") and f["type"] in (0, 1) for f in report["received"])


async def test_offline_edits_travel_in_the_step_2_reply_and_are_stored(
    scene: Scene, probe: Probe
) -> None:
    await probe.open("a", scene, scene.editor, connect=False)
    await probe.call("write", name="a", text="typed offline")
    await probe.call("connect", name="a")
    report = await probe.until("a", lambda r: r["synced"] and "typed offline" in r["text"])
    assert not [f for f in report["sent"] if f.get("type") == 0 and f["step"] == 2]
    assert max(f["payload"] for f in sync_frames(report["sent"], 1)) > 2  # the edit
    late = await scene.client(scene.viewer)
    await late.wait_text("typed offline")


async def test_a_viewer_provider_is_denied_once_and_keeps_its_connection(
    scene: Scene, probe: Probe
) -> None:
    owner = await scene.client(scene.owner)
    await probe.open("v", scene, scene.viewer)
    await probe.until("v", lambda r: r["synced"])
    await probe.call("write", name="v", text="vandalism")
    await probe.call("write", name="v", text="more vandalism")
    owner.append_paragraph("owner's")
    report = await probe.until("v", lambda r: "owner's" in r["text"])
    denials = [f["reason"] for f in report["received"] if f["type"] == 2]
    assert denials == [VIEWER_DENIED]  # once, and not for the empty step 2 it sent on connect
    assert report["connected"]
    assert report["closes"] == []
    late = await scene.client(scene.editor)
    await late.wait_text("owner's")
    assert owner.text() == "owner's"


async def test_an_expired_token_stops_the_provider_and_fresh_params_resume_it(
    scene: Scene, probe: Probe
) -> None:
    expired = AccessToken.for_user(scene.editor)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    await probe.open("a", scene, scene.editor, token=str(expired))
    # 4400-4499 are final for y-websocket 3.x: 'closed' and no second attempt.
    report = await probe.until("a", lambda r: r["closed"] == [4401])
    assert report["shouldConnect"] is False
    assert report["opened"] == 1
    # params are read again on each connection: the app refreshes the token and reconnects.
    await probe.call("params", name="a", token=token_for(scene.editor))
    await probe.call("connect", name="a")
    report = await probe.until("a", lambda r: r["synced"])
    assert report["opened"] == 2


# --- awareness echoes, spoofs and removals -----------------------------------------------


async def test_ten_providers_echoing_each_other_are_not_closed_and_leave_alone(
    scene: Scene, probe: Probe
) -> None:
    users = await sync_to_async(room_members)(scene.document, 10, Role.EDITOR)
    ids = {}
    for i, user in enumerate(users):
        name = f"p{i}"
        ids[name] = await probe.open(name, scene, user, user={"name": f"claimed-{i}"})
    everyone = {str(client_id) for client_id in ids.values()}
    before = {}
    for name in ids:  # each joiner echoed every state it was greeted with: over 8 ids
        report = await probe.until(name, lambda r: everyone <= set(r["states"]))
        before[name] = len(report["received"])
    for i, name in enumerate(ids):
        await probe.call("field", name=name, field="cursor", value={"at": i})
    for name in ids:
        report = await probe.until(
            name, lambda r: all(s.get("cursor") is not None for s in r["states"].values())
        )
        assert report["closes"] == [], (name, report["closes"])
        # Echoes are not relayed: each (client, clock, removal) arrives once.
        heard = [
            (e["id"], e["clock"], e["state"] is None)
            for e in awareness_entries(report["received"][before[name] :])
        ]
        assert len(heard) == len(set(heard)), (name, heard)
        names = {s["user"]["name"] for k, s in report["states"].items() if k != str(ids[name])}
        assert names == {u.username for u in users} - {users[int(name[1:])].username}
    leaver = ids["p9"]
    await probe.call("destroy", name="p9")
    for name in list(ids)[:9]:
        report = await probe.until(name, lambda r: str(leaver) not in r["states"])
        assert report["removed"] == [leaver], (name, report["removed"])  # only the leaver's


async def test_entries_for_a_providers_id_from_another_connection_never_reach_it(
    scene: Scene, probe: Probe
) -> None:
    a = await probe.open("a", scene, scene.owner, user={"name": "A", "color": "#123456"})
    clock = (await probe.until("a", lambda r: r["synced"]))["clocks"][str(a)]
    mallory = await scene.client(scene.editor)
    await mallory.wait_for(lambda: a in mallory.awareness)
    # y-protocols would take the first as A's own state (renaming it for good) and answer
    # the removals by re-asserting itself at a higher clock. The second is also what a
    # client sends when its own 30 s timeout drops someone's state.
    await mallory.set_awareness(a, clock + 50, {"user": {"name": "spoofed"}, "spoof": True})
    await mallory.set_awareness(a, clock, None)
    await mallory.set_awareness(a, clock + 60, None)
    await mallory.set_awareness(4242, 1, {"marker": True})  # after those, on one socket
    report = await probe.until("a", sees(4242))
    assert report["states"][str(a)] == {"user": {"name": "A", "color": "#123456"}}
    assert report["clocks"][str(a)] == clock
    heard = [e for e in awareness_entries(report["received"]) if e["id"] == a]
    assert [e for e in heard if e["clock"] > clock or e["state"] is None] == []
    late = await scene.client(scene.viewer)
    await late.wait_for(lambda: a in late.awareness and 4242 in late.awareness)
    assert late.awareness[a] == {"user": {"name": "owner", "color": "#123456"}}


async def test_a_destroyed_provider_sends_its_removal_and_its_cursor_goes(
    scene: Scene, probe: Probe
) -> None:
    watcher = await scene.client(scene.viewer)
    a = await probe.open("a", scene, scene.editor, user={"name": "A"})
    await watcher.wait_for(lambda: a in watcher.awareness)
    await probe.call("destroy", name="a")
    await watcher.wait_for(lambda: a not in watcher.awareness)
    report = await probe.report("a")
    last = awareness_entries(report["sent"])[-1]
    # disconnect() sends a null state at its current clock (not a higher one).
    assert last == {"id": a, "clock": report["clocks"][str(a)], "state": None}


async def test_a_provider_that_vanishes_loses_its_cursor_at_once(
    scene: Scene, start_probe: Callable[[], Awaitable[Probe]]
) -> None:
    watcher = await scene.client(scene.viewer)
    doomed = await start_probe()
    a = await doomed.open("a", scene, scene.editor, user={"name": "A"})
    await watcher.wait_for(lambda: a in watcher.awareness)
    os.kill(doomed.process.pid, signal.SIGKILL)  # a browser tab sends nothing when it dies
    await watcher.wait_for(lambda: a not in watcher.awareness, timeout=5)


async def test_a_reconnecting_provider_shows_again_with_its_next_change(
    scene: Scene, probe: Probe
) -> None:
    a = await probe.open("a", scene, scene.owner, user={"name": "A"})
    b = await probe.open("b", scene, scene.editor, user={"name": "B"})
    await probe.until("a", sees(b))
    await probe.until("b", sees(a))
    clock = (await probe.report("a"))["clocks"][str(a)]
    await probe.call("terminate", name="a")  # the network drops; the server sees the close
    await probe.until("b", lambda r: str(a) not in r["states"])
    report = await probe.until("a", lambda r: r["synced"] and r["opened"] == 2)
    assert report["closes"] == [1006]
    assert str(b) not in report["states"]  # 'connection-close' removed everyone else
    # It sent step 1 and its state again, at the clock the server removed: not shown yet.
    resent = [e for e in awareness_entries(report["sent"]) if e["id"] == a]
    assert resent[-1]["clock"] == clock
    await probe.call("field", name="a", field="cursor", value=1)
    report = await probe.until("b", lambda r: r["states"].get(str(a), {}).get("cursor") == 1)
    assert report["clocks"][str(a)] == clock + 1
    await probe.call("field", name="b", field="cursor", value=2)  # and b shows again to a
    await probe.until("a", lambda r: r["states"].get(str(b), {}).get("cursor") == 2)


async def test_query_awareness_is_answered_with_every_present_state(
    scene: Scene, probe: Probe
) -> None:
    a = await probe.open("a", scene, scene.owner, user={"name": "A"})
    asker = await scene.client(scene.viewer)
    await asker.wait_for(lambda: a in asker.awareness)
    asker.awareness.clear()
    await asker.send_raw(bytes([protocol.MessageType.QUERY_AWARENESS]))
    await asker.wait_for(lambda: a in asker.awareness)
    report = await probe.report("a")
    assert [f for f in report["received"] if f["type"] == 3] == []  # never asked of a client


async def test_resync_interval_step_1s_are_each_answered(scene: Scene, probe: Probe) -> None:
    await probe.open("a", scene, scene.editor, resyncInterval=200)
    report = await probe.until("a", lambda r: len(sync_frames(r["received"], 1)) >= 8)
    assert len(sync_frames(report["sent"], 0)) >= 8
    assert report["closes"] == []


async def test_broadcast_channel_tabs_echoing_each_other_keep_both_cursors(
    scene: Scene, probe: Probe
) -> None:
    """Two tabs of one browser share a BroadcastChannel: the second hears the first's state
    through it before the first's socket is open, and echoes it to the server first."""
    watcher = await scene.client(scene.viewer)
    first = await probe.open("first", scene, scene.owner, user={"name": "1"}, disableBc=False)
    await probe.until("first", lambda r: r["synced"])
    second = await probe.open("second", scene, scene.owner, user={"name": "2"}, disableBc=False)
    await probe.until("second", lambda r: r["synced"])
    await watcher.wait_for(lambda: {first, second} <= set(watcher.awareness))
    await probe.call("destroy", name="first")
    # If the second's echo owned the first's id, the first's close removed the second's too
    # (the server releases what a connection owns): y-protocols re-asserts it at once.
    await watcher.wait_for(lambda: first not in watcher.awareness and second in watcher.awareness)
    await probe.call("field", name="second", field="cursor", value=5)
    await watcher.wait_for(lambda: watcher.awareness.get(second, {}).get("cursor") == 5)
    assert (await probe.report("second"))["closes"] == []


# --- size and timing ---------------------------------------------------------------------


@pytest.mark.parametrize("server_overrides", [{"WS_MAX_MESSAGE_BYTES": "4096"}])
async def test_y_websocket_resends_a_frame_refused_with_1009_on_every_reconnect(
    scene: Scene, probe: Probe
) -> None:
    other = await scene.client(scene.owner)
    await probe.open("a", scene, scene.editor)
    await probe.until("a", lambda r: r["synced"])
    await probe.call("write", name="a", text="x" * 8000)
    # 1009 is not final for it: it reconnects (its backoff restarts at each sync) and its
    # step 2 carries the change again.
    report = await probe.until("a", lambda r: r["closes"][:3] == [1009] * 3)
    assert report["opened"] >= 3
    other.append_paragraph("still served")
    late = await scene.client(scene.viewer)
    await late.wait_text("still served")


@pytest.mark.timeout(180)  # idle for 38 s, past y-websocket's 30 s timeouts
async def test_idle_providers_outlive_the_30_s_timeouts(
    scene: Scene, probe: Probe, db_call: Callable[..., Any]
) -> None:
    """Nobody types or moves: what arrives is the renewals (every 15 s) relayed back."""
    alone_in = await db_call(make_document, owner=scene.owner)
    lone = await probe.open("lone", scene, scene.owner, doc=str(alone_in.id))
    # a sets a field (clock 1); b never does, so its state is {} at clock 0, which y-protocols
    # only applies above the clock it assumes for an unknown client (0): a sees b at b's
    # first renewal.
    a = await probe.open("a", scene, scene.owner, user={"name": "A"})
    b = await probe.open("b", scene, scene.editor)
    await probe.until("b", sees(a))
    report = await probe.until(
        "a", lambda r: b in [e["id"] for e in awareness_entries(r["received"])]
    )
    assert str(b) not in report["states"]
    started = time.monotonic()
    while time.monotonic() - started < 38:  # past y-websocket's 30 s silence check (every 3 s)
        for name in ("lone", "a", "b"):
            report = await probe.report(name)
            assert report["closes"] == [], (name, report["closes"])
            assert report["removed"] == [], (name, report["removed"])
        await asyncio.sleep(1)  # the scenario: idle, and checked every second
    report = await probe.report("lone")
    assert report["opened"] == 1
    renewals = [e["clock"] for e in awareness_entries(report["sent"]) if e["id"] == lone]
    assert renewals[:2] == [0, 1]  # renewed at 15 s
    assert 1 in [e["clock"] for e in awareness_entries(report["received"]) if e["id"] == lone]
    # Renewed twice each, heard each time: b keeps a (held since 0 s) past 30 s.
    await probe.until("b", lambda r: r["clocks"][str(a)] >= 3, timeout=5)
    report = await probe.until("a", lambda r: r["clocks"].get(str(b), 0) >= 2, timeout=5)
    assert str(b) in report["states"]
