"""Rooms at the sizes people use them: 20 real y-websocket providers, awareness on."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pycrdt import Array

from backend.collab.services import document_state
from backend.documents.models import Role
from tests.collab.conftest import FAST, Scene
from tests.collab.providers import room_members, run_room
from tests.factories import token_for
from tests.servers import TandemProcess

PROVIDERS = 20
SECONDS = 50  # three awareness renewals (every 15 s)


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return FAST


def _presence(process: TandemProcess, scene: Scene) -> set[str]:
    request = urllib.request.Request(  # noqa: S310
        f"{process.http_url}/api/documents/{scene.document.id}/presence/",
        headers={"Authorization": f"Bearer {token_for(scene.owner)}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body: Any = json.loads(response.read())
    return {entry["username"] for entry in body}


async def test_twenty_providers_on_two_replicas_keep_editing_past_three_renewals(
    scene: Scene, second: TandemProcess
) -> None:
    users = await sync_to_async(room_members)(scene.document, PROVIDERS, Role.EDITOR)
    urls = [f"{scene.server.ws_url}/ws/documents", f"{second.ws_url}/ws/documents"]
    run = asyncio.create_task(
        run_room(urls, scene.document.id, users, seconds=SECONDS, write_every_ms=500)
    )
    names = {user.get_username() for user in users}
    seen: list[set[str]] = []
    for _ in range(SECONDS):  # presence on both replicas lists everyone while they edit
        await asyncio.sleep(1)
        seen = [_presence(scene.server, scene), _presence(second, scene)]
        if all(names <= s for s in seen):
            break
    assert all(names <= s for s in seen), seen
    result = await run
    print(json.dumps(result))  # the figures, for the record (pytest -s)
    assert result["synced"], result
    assert result["closes"] == [], result
    assert result["written"] >= SECONDS * 2 - 2, result
    assert result["lost"] == 0, result
    assert result["converged"], result
    doc, _ = await sync_to_async(document_state)(document=scene.document)
    assert len(doc.get("log", type=Array)) == result["written"]  # all of it in PostgreSQL
    assert result["seeingEveryone"] == PROVIDERS, result
    assert result["claimedNamesShown"] == 0, result  # names are the accounts'
    assert result["cursorsLostWhilePresent"] == 0, result
    after = result["afterLeave"]
    assert after["leaverGone"], result
    assert after["othersRemoved"] == 0, result
    assert after["stillSeeingEveryoneElse"] == PROVIDERS - 1, result
