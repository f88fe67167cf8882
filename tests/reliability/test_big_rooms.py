"""Big rooms: one document, real y-websocket providers (awareness on) across two replicas,
every cursor moving once a second, one provider writing, past three awareness renewals.

``make chaos`` runs rooms of 100 and of 300 providers for 50 s, split over several Node
processes (see tests/collab/providers.py). The suite runs a room of 10 for 20 s (one renewal)
over two Node processes, so the split is tested too; its 20-provider, 50 s room is
tests/collab/test_big_room.py. Nobody is closed, nothing is lost, everyone converges to what
PostgreSQL holds and sees everyone else; the one who leaves takes only its own cursor away.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from backend.documents.models import Role
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.providers import (
    PER_PROCESS,
    ProviderRoom,
    assert_room_held,
    room_members,
    stored_log,
)
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess

SIZES = [100, 300] if harness.CHAOS else [10]
SECONDS = harness.size(20, 50)  # renewals every 15 s: one in the suite, three under chaos
WRITE_EVERY_MS = 500


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return FAST


@pytest.mark.timeout(300)  # a room of providers to sync, run for SECONDS, settle and leave
@pytest.mark.parametrize("providers", SIZES, ids=lambda n: f"{n}-providers")
async def test_big_room_on_two_replicas_keeps_everyone(
    scene: Scene, second: TandemProcess, tmp_path: Path, providers: int
) -> None:
    figures = Figures(f"big room: {providers} providers")
    users = await sync_to_async(room_members)(scene.document, providers, Role.EDITOR)
    urls = [f"{scene.server.ws_url}/ws/documents", f"{second.ws_url}/ws/documents"]
    per_process = harness.size(5, PER_PROCESS)
    started = time.monotonic()
    room = ProviderRoom(
        urls,
        scene.document.id,
        users,
        log_dir=tmp_path,
        write_every_ms=WRITE_EVERY_MS,
        per_process=per_process,
    )
    async with room:
        joined = time.monotonic() - started
        await room.start()
        await asyncio.sleep(SECONDS)  # the scenario is this long: three renewals under chaos
        written = await room.stop()
        stored, vector = await stored_log(scene.document.id, written)
        settled = await room.settle(written, vector=vector)
        after = await room.leave()
    print(f"[{figures.scenario}] {settled.summary()} after leaving: {after}")
    figures.trials, figures.inputs = 1, providers
    figures.sent, figures.acked, figures.lost = written, stored, settled.lost
    figures.converge_seconds = settled.settle_seconds
    figures.p50_ms, figures.p99_ms = settled.p50_ms, settled.p99_ms
    figures.closes = len(settled.closes)
    figures.note = (
        f"{providers} providers in {len(room.parts)} Node processes, 2 replicas, {SECONDS} s; "
        f"all synced in {joined:.1f} s; {written} writes x {providers - 1} readers: "
        f"p50 {settled.p50_ms} ms, p99 {settled.p99_ms} ms, lost {settled.lost}; "
        f"{len(settled.closes)} closes"
    )
    harness.record(figures)

    assert written >= SECONDS * 1000 // WRITE_EVERY_MS * 0.9, settled.summary()
    assert stored == written, (stored, written)  # every write is in PostgreSQL
    assert_room_held(settled, after)
