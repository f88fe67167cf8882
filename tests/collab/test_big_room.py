"""Rooms at the sizes people use them: 20 real y-websocket providers, awareness on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from backend.documents.models import Role
from tests.support.factories import token_for
from tests.support.providers import ProviderRoom, assert_room_held, room_members, stored_log
from tests.support.rest import api
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess
from tests.support.waiting import wait_until_async

PROVIDERS = 20
SECONDS = 50  # three awareness renewals (every 15 s)


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return FAST


def _presence(process: TandemProcess, scene: Scene) -> set[str]:
    path = f"/api/documents/{scene.document.id}/presence/"
    return {entry["username"] for entry in api(process, "GET", path, token=token_for(scene.owner))}


async def _presence_lists(names: set[str], *processes: TandemProcess, scene: Scene) -> None:
    seen: list[set[str]] = []

    async def everyone() -> bool:
        seen[:] = [await asyncio.to_thread(_presence, process, scene) for process in processes]
        return all(names <= s for s in seen)

    await wait_until_async(
        everyone, timeout=30, every=1, what=lambda: f"every one of {sorted(names)}: {seen}"
    )


@pytest.mark.timeout(300)  # 50 s of editing, 20 providers to sync, settle and leave
async def test_twenty_providers_on_two_replicas_keep_editing_past_three_renewals(
    scene: Scene, second: TandemProcess, tmp_path: Path
) -> None:
    users = await sync_to_async(room_members)(scene.document, PROVIDERS, Role.EDITOR)
    urls = [f"{scene.server.ws_url}/ws/documents", f"{second.ws_url}/ws/documents"]
    async with ProviderRoom(urls, scene.document.id, users, log_dir=tmp_path) as room:
        await room.start()
        names = {user.get_username() for user in users}
        await _presence_lists(names, scene.server, second, scene=scene)  # both replicas
        await asyncio.sleep(SECONDS)  # the scenario: past three renewals
        written = await room.stop()
        stored, vector = await stored_log(scene.document.id, written)
        settled = await room.settle(written, vector=vector)
        after = await room.leave()
    print(json.dumps({**settled.summary(), "after": after}))  # the figures (pytest -s)
    assert written >= SECONDS * 2 - 2, settled.summary()
    assert stored == written  # all of it in PostgreSQL
    assert_room_held(settled, after)
