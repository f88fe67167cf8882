"""A Redis restart forgets every group: the hubs re-join theirs and live delivery resumes
well before the periodic catch-up (LOG_CHECK_SECONDS, set to a minute here) would run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from backend.notifications.hub import REJOIN_SECONDS
from tests.support.datastores import PrivateRedis
from tests.support.factories import make_document, make_user, token_for
from tests.support.live_notifications import NotificationSocket
from tests.support.rest import api
from tests.support.servers import TandemProcess, server_env

CHECK_SECONDS = 60.0


@pytest.fixture
def replicas(
    transactional_db: None, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[tuple[TandemProcess, TandemProcess]]:
    env = server_env(REDIS_URL=private_redis.url, LOG_CHECK_SECONDS=str(CHECK_SECONDS))
    with (
        TandemProcess(env, log_path=tmp_path / "a.log") as a,
        TandemProcess(env, log_path=tmp_path / "b.log") as b,
    ):
        yield a, b


@pytest.mark.timeout(120)
async def test_live_delivery_resumes_after_a_redis_restart(
    replicas: tuple[TandemProcess, TandemProcess],
    private_redis: PrivateRedis,
    db_call: Callable[..., Any],
) -> None:
    a, b = replicas
    owner = await db_call(make_user, username="owner")
    member = await db_call(make_user, username="member")
    owner_token = token_for(owner)

    async def share() -> None:
        document = await db_call(make_document, owner=owner)
        path = f"/api/documents/{document.id}/members/"
        body = {"username": "member", "role": "viewer"}
        await asyncio.to_thread(api, a, "POST", path, body, owner_token)

    socket = NotificationSocket(f"{b.ws_url}/ws/notifications/?token={token_for(member)}")
    await socket.connect()
    try:
        await socket.wait_for(lambda: socket.ready is not None)
        await share()
        await socket.wait_ids(1)
        private_redis.restart()
        restarted = time.monotonic()
        shares = 1
        while not socket.ids[1:]:
            assert time.monotonic() - restarted < CHECK_SECONDS - 10, "no re-join"
            await share()
            shares += 1
            await asyncio.sleep(0.5)
        await socket.wait_ids(*range(1, shares + 1))
        took = time.monotonic() - restarted
        print(f"\nlive again {took:.1f} s after the Redis restart (re-join: {REJOIN_SECONDS} s)")
        assert socket.ids == list(range(1, shares + 1)), "what Redis lost came from the inbox"
        assert socket.is_open
    finally:
        await socket.close()
        await sync_to_async(connections.close_all)()
