"""Account-wide access changes end a user's notification connections on every replica
within a second: logging out everywhere (through REST on another replica) and deactivating
the account. The replicas' periodic checks are 30 s apart here, so they cannot be what acts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import make_user, token_for
from tests.support.live_notifications import EventStream, NotificationSocket
from tests.support.rest import api
from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env

SLOW_CHECKS = {"LOG_CHECK_SECONDS": "30"}


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return SLOW_CHECKS


@pytest.fixture
def other(scene: Scene, tmp_path: Path) -> Iterator[TandemProcess]:
    with TandemProcess(server_env(**SLOW_CHECKS), log_path=tmp_path / "other.log") as process:
        yield process


@pytest.fixture
async def member(scene: Scene, db_call: Callable[..., Any]) -> Any:
    return await db_call(make_user, username="member")


@pytest.fixture
async def connections(
    other: TandemProcess, member: Any
) -> AsyncIterator[tuple[NotificationSocket, EventStream]]:
    token = token_for(member)
    socket = await NotificationSocket(f"{other.ws_url}/ws/notifications/?token={token}").connect()
    stream = await EventStream(other.port, f"/api/notifications/stream/?token={token}").open()
    await socket.wait_for(lambda: socket.ready is not None, what="the socket's ready")
    await stream.wait_for(lambda: stream.ready is not None, what="the stream's ready")
    yield socket, stream
    await socket.close()
    await stream.close()


async def _ended_within_a_second(socket: NotificationSocket, stream: EventStream) -> None:
    started = time.monotonic()
    assert await socket.closed(timeout=10) == 4401
    await asyncio.wait_for(stream.ended.wait(), 10)
    took = time.monotonic() - started
    assert took < 1.0, f"the connections ended {took:.2f} s after the change"


async def test_logging_out_everywhere_on_one_replica_ends_them_on_another(
    scene: Scene, member: Any, connections: tuple[NotificationSocket, EventStream]
) -> None:
    await asyncio.to_thread(
        api, scene.server, "POST", "/api/auth/logout-all/", token=token_for(member)
    )
    await _ended_within_a_second(*connections)


async def test_a_deactivated_account_loses_its_connections_at_once(
    member: Any, connections: tuple[NotificationSocket, EventStream], db_call: Callable[..., Any]
) -> None:
    member.is_active = False
    await db_call(member.save)
    await _ended_within_a_second(*connections)
