"""The scene of the real-time tests: a Tandem server process, a document with an owner, an
editor and a viewer, Yjs clients opened on it, and a second replica beside it.

Its fixtures (``server_overrides``, ``server``, ``scene``, ``second``, ``db_call``) serve the
whole suite: tests/conftest.py registers this module with ``pytest_plugins``. A test module
overrides ``server_overrides`` (or ``server``) to change the server's settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from pycrdt import Doc

from backend.documents.models import Document, Role
from tests.support.factories import make_document, make_user, share, token_for
from tests.support.servers import TandemProcess, server_env
from tests.support.yclient import YClient

# Replicas that notice each other quickly: log checks, presence heartbeats and expiry.
FAST = {
    "LOG_CHECK_SECONDS": "0.5",
    "PRESENCE_TTL_SECONDS": "2",
    "PRESENCE_HEARTBEAT_SECONDS": "0.5",
}


class Scene:
    """A document with an owner, an editor and a viewer, and a way to open clients (on the
    scene's server, or ``on`` another replica); the scene closes them at the end."""

    def __init__(self, server: TandemProcess) -> None:
        self.server = server
        self.owner = make_user(username="owner")
        self.editor = make_user(username="editor")
        self.viewer = make_user(username="viewer")
        self.document: Document = make_document(owner=self.owner)
        share(self.document, self.editor, Role.EDITOR)
        share(self.document, self.viewer, Role.VIEWER)
        self.clients: list[YClient] = []

    def url(
        self,
        user: Any = None,
        *,
        token: str | None = None,
        document: Any = None,
        slash: bool = False,
        on: TandemProcess | None = None,
    ) -> str:
        token = token if token is not None else token_for(user or self.owner)
        document_id = document if document is not None else self.document.id
        base = (on or self.server).ws_url
        return f"{base}/ws/documents/{document_id}{'/' if slash else ''}?token={token}"

    async def client(
        self,
        user: Any = None,
        *,
        hello: int | None = None,
        wait: bool = True,
        doc: Doc[Any] | None = None,
        **url_args: Any,
    ) -> YClient:
        """A client connected as ``user`` (with ``doc``: a reconnect holding that Doc); once
        synced unless ``wait`` is false."""
        client = YClient(self.url(user, **url_args), doc=doc)
        self.clients.append(client)
        await client.connect(hello=hello)
        if wait:
            await client.synced.wait()
        return client

    async def refused(self, user: Any = None, **url_args: Any) -> tuple[int | None, int]:
        """Connect where the server must refuse: the close code, and the frames sent first."""
        client = await self.client(user, wait=False, **url_args)
        return await client.closed(), client.received_frames


@pytest.fixture
def server_overrides() -> dict[str, str]:
    """Environment overrides for the server process; tests override this fixture."""
    return {}


@pytest.fixture
def server(
    transactional_db: None, tmp_path: Path, server_overrides: dict[str, str]
) -> Iterator[TandemProcess]:
    env = server_env(**{"ROOM_IDLE_SECONDS": "0.2", "LOG_CHECK_SECONDS": "0.5", **server_overrides})
    with TandemProcess(env, log_path=tmp_path / "server.log") as process:
        yield process


@pytest.fixture
async def scene(server: TandemProcess) -> AsyncIterator[Scene]:
    made = await sync_to_async(Scene)(server)
    yield made
    for client in made.clients:
        await client.close()
    # The ORM calls of this test ran in asgiref's thread: close its connection there.
    await sync_to_async(connections.close_all)()


@pytest.fixture
def second(scene: Scene, tmp_path: Path) -> Iterator[TandemProcess]:
    """A second replica sharing the scene's PostgreSQL database and Redis."""
    with TandemProcess(server_env(**FAST), log_path=tmp_path / "second.log") as process:
        yield process


@pytest.fixture
def db_call() -> Callable[..., Any]:
    """Run a synchronous ORM function from an async test."""
    return lambda fn, *args, **kwargs: sync_to_async(fn)(*args, **kwargs)
