"""Access changes take effect at once, on every replica, through the REST API.

Removing a member, demoting an editor, deleting a document, or "log out everywhere" on one
replica reaches the affected sockets on another within a second (an ``access.changed``
message on the channel layer). Both replicas check access periodically only every 30 s here,
so that check cannot be what acts. And a write racing a removal is judged under the lock
the removal took: nothing of the removed editor's is stored after the removal commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from backend.collab.models import DocumentUpdate
from tests.support.factories import token_for
from tests.support.rest import api
from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.yclient import YClient

SLOW_CHECKS = {"LOG_CHECK_SECONDS": "30"}
PROMPT = 1.0  # seconds: "within a second"


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return SLOW_CHECKS


@pytest.fixture
def other(scene: Scene, tmp_path: Path) -> Iterator[TandemProcess]:
    """The replica the affected users are connected to; REST calls go to the scene's."""
    with TandemProcess(server_env(**SLOW_CHECKS), log_path=tmp_path / "other.log") as process:
        yield process


def _rest(scene: Scene, method: str, path: str, body: object = None, user: object = None) -> None:
    api(scene.server, method, path, body, token=token_for(user or scene.owner))


async def _timed_close(client: YClient, since: float) -> tuple[int | None, float]:
    code = await client.closed(timeout=10)
    return code, time.monotonic() - since


@contextlib.asynccontextmanager
async def _typing(client: YClient, every: float = 0.01) -> AsyncIterator[list[int]]:
    """``client`` appends a paragraph every ``every`` seconds until its socket closes."""
    typed = [0]

    async def type_on() -> None:
        while client.close_code is None and not client.denied:
            client.append_paragraph(f"typed {typed[0]}")
            typed[0] += 1
            await asyncio.sleep(every)

    task = asyncio.create_task(type_on())
    try:
        yield typed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _stored_after(scene: Scene, moment: datetime, author: object) -> list[int]:
    rows = DocumentUpdate.objects.filter(
        document=scene.document, author=author, created_at__gt=moment
    )
    return list(rows.values_list("seq", flat=True))


async def test_a_removed_editor_typing_on_another_replica_is_cut_off_at_once(
    scene: Scene, other: TandemProcess, db_call
) -> None:
    editor = await scene.client(scene.editor, on=other)
    watcher = await scene.client(scene.owner)
    async with _typing(editor) as typed:
        await watcher.wait_for(lambda: len(watcher.body.children) >= 20)
        path = f"/api/documents/{scene.document.id}/members/editor/"
        await db_call(_rest, scene, "DELETE", path)
        removed_at, started = timezone.now(), time.monotonic()
        code, took = await _timed_close(editor, started)
    assert code == 4404
    assert took < PROMPT, f"the removal reached the editor's socket after {took:.2f} s"
    late = await db_call(_stored_after, scene, removed_at, scene.editor)
    assert late == [], f"updates {late} of the removed editor were stored after the removal"
    assert typed[0] > 20


async def test_a_demoted_editor_turns_read_only_at_once_and_is_refused(
    scene: Scene, other: TandemProcess, db_call
) -> None:
    editor = await scene.client(scene.editor, on=other)
    watcher = await scene.client(scene.owner)
    async with _typing(editor):
        await watcher.wait_for(lambda: len(watcher.body.children) >= 20)
        path = f"/api/documents/{scene.document.id}/members/editor/"
        await db_call(_rest, scene, "PATCH", path, {"role": "viewer"})
        demoted_at, started = timezone.now(), time.monotonic()
        await editor.wait_for(lambda: bool(editor.denied), timeout=10)
        took = time.monotonic() - started
    assert took < PROMPT, f"the demotion reached the editor's socket after {took:.2f} s"
    assert editor.close_code is None, "a demoted editor stays connected, as a viewer"
    editor.append_paragraph("written after the demotion")
    await asyncio.sleep(0.5)
    late = await db_call(_stored_after, scene, demoted_at, scene.editor)
    assert late == [], f"updates {late} of the demoted editor were stored after the demotion"
    assert "written after the demotion" not in watcher.text()


async def test_deleting_a_document_closes_its_sockets_on_every_replica(
    scene: Scene, other: TandemProcess, db_call
) -> None:
    editor = await scene.client(scene.editor, on=other)
    viewer = await scene.client(scene.viewer, on=other)
    await db_call(_rest, scene, "DELETE", f"/api/documents/{scene.document.id}/")
    started = time.monotonic()
    for client in (editor, viewer):
        code, took = await _timed_close(client, started)
        assert code == 4404
        assert took < PROMPT, f"the deletion reached a socket after {took:.2f} s"


async def test_logout_everywhere_closes_that_users_sockets_on_every_replica(
    scene: Scene, other: TandemProcess, db_call
) -> None:
    editor = await scene.client(scene.editor, on=other)
    owner = await scene.client(scene.owner, on=other)
    await db_call(_rest, scene, "POST", "/api/auth/logout-all/", None, scene.editor)
    code, took = await _timed_close(editor, time.monotonic())
    assert code == 4401
    assert took < PROMPT, f"logging out everywhere reached the socket after {took:.2f} s"
    assert owner.close_code is None, "another user's socket was closed"


async def test_deactivating_an_account_closes_its_sockets_on_every_replica(
    scene: Scene, other: TandemProcess, db_call
) -> None:
    editor = await scene.client(scene.editor, on=other)
    owner = await scene.client(scene.owner, on=other)
    scene.editor.is_active = False
    await db_call(scene.editor.save)
    code, took = await _timed_close(editor, time.monotonic())
    assert code == 4403
    assert took < PROMPT, f"the deactivation reached the socket after {took:.2f} s"
    assert owner.close_code is None, "another user's socket was closed"
