"""The multi-client acceptance path under every ASGI server Tandem supports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.factories import token_for
from tests.support.rest import api
from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env


@pytest.fixture(params=["uvicorn", "daphne", "hypercorn"])
def server(
    request: pytest.FixtureRequest, transactional_db: None, tmp_path: Path
) -> Iterator[TandemProcess]:
    env = server_env(ASGI_SERVER=request.param, ROOM_IDLE_SECONDS="0.2", LOG_CHECK_SECONDS="0.5")
    with TandemProcess(env, log_path=tmp_path / f"{request.param}.log") as process:
        yield process


def _content(scene: Scene) -> dict[str, object]:
    path = f"/api/documents/{scene.document.id}/content/"
    return dict(api(scene.server, "GET", path, token=token_for(scene.viewer)))


async def test_co_editing_roles_and_refusals(scene: Scene) -> None:
    alice = await scene.client(scene.owner, hello=0)
    bob = await scene.client(scene.editor)
    viewer = await scene.client(scene.viewer)
    alice.append_paragraph("one")
    bob.append_paragraph("two")
    await viewer.wait_for(lambda: len(viewer.body.children) == 2)
    await alice.wait_for(lambda: alice.text() == viewer.text() == bob.text())
    viewer.append_paragraph("not allowed")
    await viewer.wait_for(lambda: bool(viewer.denied))
    await alice.wait_for(lambda: len(alice.acks) == 2)  # the empty step 2 and "one"
    body = await asyncio.to_thread(_content, scene)
    assert sorted(str(body["text"]).split("\n")) == ["one", "two"]

    assert await scene.refused(token="bad") == (4401, 0)
