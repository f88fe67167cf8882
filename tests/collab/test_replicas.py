"""Several server processes sharing PostgreSQL and Redis: fan-out, presence, faults, drain."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.collab.api.selectors import document_state
from backend.collab.core import content
from backend.collab.models import DocumentSnapshot
from backend.documents.models import Document
from tests.support.datastores import PrivateRedis
from tests.support.factories import token_for
from tests.support.rest import api
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.typists import Typist
from tests.support.waiting import wait_until_async


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return FAST


def _get(process: TandemProcess, path: str, user: Any) -> Any:
    return api(process, "GET", path, token=token_for(user))


async def test_clients_on_two_replicas_co_edit_with_cursors_and_presence(
    scene: Scene, second: TandemProcess
) -> None:
    alice = await scene.client(scene.owner)
    bob = await scene.client(scene.editor, on=second)
    alice.append_paragraph("from replica one")
    bob.append_paragraph("from replica two")
    await alice.wait_for(lambda: len(alice.body.children) == 2)
    await bob.wait_for(lambda: bob.text() == alice.text())
    await alice.set_awareness(11, 1, {"user": {"name": "Alice"}})
    await bob.wait_for(lambda: 11 in bob.awareness)
    presence = await asyncio.to_thread(
        _get, second, f"/api/documents/{scene.document.id}/presence/", scene.viewer
    )
    assert sorted(p["username"] for p in presence) == ["editor", "owner"]
    # Members see who and since when, never where: replica names are host names and pids.
    assert all(set(p) == {"username", "since", "connections"} for p in presence), presence
    assert socket.gethostname() not in json.dumps(presence)
    # Operators see where from the metrics: one connection on each replica.
    for process in (scene.server, second):
        assert await asyncio.to_thread(process.metric, "tandem_connections_open") == 1
    await alice.drop()
    await bob.wait_for(lambda: 11 not in bob.awareness)


async def test_presence_of_a_killed_replica_vanishes(scene: Scene, second: TandemProcess) -> None:
    await scene.client(scene.editor, on=second)
    path = f"/api/documents/{scene.document.id}/presence/"
    assert [
        p["username"] for p in await asyncio.to_thread(_get, scene.server, path, scene.owner)
    ] == ["editor"]
    second.kill()

    async def gone() -> bool:
        return not await asyncio.to_thread(_get, scene.server, path, scene.owner)

    await wait_until_async(gone, timeout=6, every=0.5, what="the killed replica's presence to go")


def _live(scene: Scene, user: Any, servers: list[TandemProcess]) -> Callable[[], list[str]]:
    """The user's URLs on those of ``servers`` that are up, in that order."""
    return lambda: [scene.url(user, on=server) for server in servers if server.alive]


async def test_kill_9_of_a_replica_while_typing_loses_nothing(
    scene: Scene, second: TandemProcess, db_call: Any
) -> None:
    typists = [
        Typist("a", _live(scene, scene.owner, [scene.server, second])),
        Typist("b", _live(scene, scene.editor, [second, scene.server])),
        Typist("c", _live(scene, scene.owner, [second, scene.server])),
    ]
    await asyncio.gather(*(t.start() for t in typists))
    clients = [t.client for t in typists if t.client is not None]
    scene.clients += clients  # closed with the scene; a reconnect reuses the client
    runs = [asyncio.create_task(t.type(count=40, interval=0.025)) for t in typists]
    await wait_until_async(
        lambda: all(len(c.typed) > 5 for c in clients), timeout=30, what="a few updates each"
    )
    second.kill()  # mid-typing: two of the three typists are connected to it
    await asyncio.gather(*runs)
    for typist in typists:
        assert await typist.ensure_connected()
    assert sum(t.reconnects for t in typists) >= 2
    expected = {f"{t.name}-{i}" for t in typists for i in range(40)}
    for client in clients:
        await client.wait_for(lambda c=client: c.labels() == expected, timeout=20)
    assert len({c.text() for c in clients}) == 1

    def stored() -> str:
        doc, _ = document_state(document=Document.objects.get(pk=scene.document.pk))
        return content.as_text(doc)

    assert set((await db_call(stored)).split("\n")) == expected


async def test_redis_restart_mid_session_repairs_and_converges(
    scene: Scene, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    env = server_env(**FAST, REDIS_URL=private_redis.url)
    with (
        TandemProcess(env, log_path=tmp_path / "r1.log") as one,
        TandemProcess(env, log_path=tmp_path / "r2.log") as two,
    ):
        alice = await scene.client(scene.owner, on=one)
        bob = await scene.client(scene.editor, on=two)
        alice.append_paragraph("before")
        await bob.wait_text("before")
        await asyncio.to_thread(private_redis.restart)
        for i in range(5):
            alice.append_paragraph(f"during {i}")
            bob.append_paragraph(f"bob {i}")
            await asyncio.sleep(0.1)  # the writes span the restart
        await alice.wait_for(lambda: len(alice.body.children) == 11, timeout=20)
        await bob.wait_for(lambda: bob.text() == alice.text(), timeout=20)


async def test_sigterm_drains_with_1012_and_loses_no_write(scene: Scene, db_call) -> None:
    writer = await scene.client(scene.owner, hello=0)
    for i in range(30):
        writer.append_paragraph(f"w{i}")
    await writer.wait_for(lambda: len(writer.acks) == 31)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status says -15.
    assert await asyncio.to_thread(scene.server.stop) in (0, -15)
    assert await writer.closed() == 1012
    head = await db_call(lambda: Document.objects.get(pk=scene.document.pk).head_seq)
    assert head == 30
    snapshot = await db_call(
        lambda: DocumentSnapshot.objects.filter(document=scene.document).order_by("-seq").first()
    )
    assert snapshot is not None
    assert snapshot.seq == 30
