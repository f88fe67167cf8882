"""SIGTERM ends open notification streams at once, so they do not hold a replica's shutdown
for the whole grace period (uvicorn waits for open responses before shutting down)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.factories import make_user, token_for
from tests.support.live_notifications import EventStream
from tests.support.servers import TandemProcess, server_env


async def test_sigterm_ends_open_streams_and_the_server_exits_promptly(
    transactional_db: None, tmp_path: Path
) -> None:
    member = await asyncio.to_thread(make_user, username="member")
    token = await asyncio.to_thread(token_for, member)
    env = server_env(GRACEFUL_SHUTDOWN_SECONDS="20", SSE_HEARTBEAT_SECONDS="0.5")
    with TandemProcess(env, log_path=tmp_path / "server.log") as server:
        streams = [
            await EventStream(
                server.port, "/api/notifications/stream/", {"Authorization": f"Bearer {token}"}
            ).open()
            for _ in range(3)
        ]
        for stream in streams:
            await stream.wait_for(lambda s=stream: s.ready is not None, what="ready")
        started = time.monotonic()
        code = await asyncio.to_thread(server.stop)
        took = time.monotonic() - started
        assert code in (0, -15)
        assert took < 10, f"the server took {took:.1f} s to stop with streams open"
        for stream in streams:
            await asyncio.wait_for(stream.ended.wait(), 5)
