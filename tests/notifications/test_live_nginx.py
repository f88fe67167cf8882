"""The live notification channels through the shipped nginx configuration, in front of two
real replicas: events are not held back by buffering, heartbeats pass, no token is logged."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import find, render
from tests.deploy.test_nginx import NGINX_CONF, loopback_config, nginx_command
from tests.support.factories import make_document, make_user, token_for
from tests.support.live_notifications import EventStream, NotificationSocket
from tests.support.rest import api
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess, free_port, listening
from tests.support.waiting import wait_until, wait_until_async

STREAM = "/api/notifications/stream/"


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return {**FAST, "SSE_HEARTBEAT_SECONDS": "0.5"}


@pytest.fixture
def nginx(scene: Scene, second: TandemProcess, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """nginx on a free port in front of the scene's server and the second replica; yields
    its port and access log."""
    port = free_port()
    conf = tmp_path / "nginx.conf"
    replicas = {"tandem-1": scene.server.port, "tandem-2": second.port}
    conf.write_text(loopback_config(port, replicas))
    access_log = tmp_path / "access.log"
    with access_log.open("a") as stdout:
        process = subprocess.Popen(
            nginx_command(conf, "-g", "daemon off;"), stdout=stdout, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: process.poll() is not None or listening(port), what="nginx")
        assert process.poll() is None, (tmp_path / "error.log").read_text()
        yield port, access_log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture
async def member(scene: Scene, db_call: Callable[..., Any]) -> Any:
    return await db_call(make_user, username="member")


async def _share(scene: Scene, db_call: Callable[..., Any], title: str) -> None:
    document = await db_call(make_document, owner=scene.owner, title=title)
    path = f"/api/documents/{document.id}/members/"
    body = {"username": "member", "role": "editor"}
    await asyncio.to_thread(api, scene.server, "POST", path, body, token_for(scene.owner))


async def test_sse_and_websocket_through_nginx(
    scene: Scene, nginx: tuple[int, Path], member: Any, db_call: Callable[..., Any]
) -> None:
    port, access_log = nginx
    token = token_for(member)
    stream = EventStream(port, f"{STREAM}?token={token}")
    socket = NotificationSocket(f"ws://127.0.0.1:{port}/ws/notifications/?token={token}")
    try:
        await stream.open()
        await socket.connect()
        assert stream.status == 200
        await stream.wait_for(lambda: stream.ready is not None)
        await socket.wait_for(lambda: socket.ready is not None)
        await _share(scene, db_call, "Through the proxy")
        # Buffered, one small event would sit in nginx until the buffer filled or the
        # stream ended: it arrives promptly only because nothing buffers it.
        await stream.wait_ids(1, timeout=5)
        await socket.wait_ids(1, timeout=5)
        assert stream.messages[-1]["notification"]["document"]["title"] == "Through the proxy"
        await stream.wait_for(lambda: stream.comments.count("keepalive") >= 2, timeout=10)
    finally:
        await stream.close()
        await socket.close()

    # nginx logs a request as it ends, once it has seen the client go: the two lines may come
    # a moment after the closes above, in either order.
    def both_logged() -> str:
        text = access_log.read_text()
        return text if STREAM in text and "/ws/notifications/" in text else ""

    logged = await wait_until_async(
        both_logged, what=lambda: f"both requests in nginx's access log: {access_log.read_text()!r}"
    )
    assert STREAM in logged
    assert "/ws/notifications/" in logged
    assert token not in logged
    assert "token=" not in logged


async def test_notification_connections_spread_over_both_replicas(
    scene: Scene, second: TandemProcess, nginx: tuple[int, Path], member: Any
) -> None:
    """Per user, not per document: no affinity, or every user would sit on one replica."""
    port, _ = nginx
    token = token_for(member)
    opened: list[NotificationSocket | EventStream] = []
    try:
        for _ in range(4):
            socket = NotificationSocket(f"ws://127.0.0.1:{port}/ws/notifications/?token={token}")
            opened.append(await socket.connect())
            await socket.wait_for(lambda s=socket: s.ready is not None)
        for _ in range(4):
            stream = EventStream(port, f"{STREAM}?token={token}")
            opened.append(await stream.open())
            await stream.wait_for(lambda s=stream: s.ready is not None)
    finally:
        for connection in opened:
            await connection.close()
    for replica in (scene.server, second):
        assert replica.log_path is not None
        log = replica.log_path.read_text()
        assert "WebSocket /ws/notifications/" in log, "a replica got no notification socket"
        assert f"GET {STREAM}" in log, "a replica got no stream"


def test_the_stream_location_is_unbuffered_and_long_lived() -> None:
    """Not left to the X-Accel-Buffering header the app sends: a proxy may drop it."""
    text = NGINX_CONF.read_text()
    block = re.search(r"location /api/notifications/stream/ \{(.*?)\}", text, re.DOTALL)
    assert block is not None
    directives = block.group(1)
    assert "proxy_buffering off;" in directives
    assert "proxy_pass http://tandem_http;" in directives
    timeout = re.search(r"proxy_read_timeout (\d+)s;", directives)
    assert timeout is not None
    assert int(timeout.group(1)) >= 3600


def test_the_ingress_streams_notifications_unbuffered_round_robin_and_unlogged() -> None:
    ingress = find(render("overlays/example"), "Ingress", "tandem-notifications")
    annotations = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[f"{prefix}proxy-buffering"] == "off"
    assert int(annotations[f"{prefix}proxy-read-timeout"]) >= 3600
    assert annotations[f"{prefix}enable-access-log"] == "false", "tokens are in query strings"
    assert f"{prefix}upstream-hash-by" not in annotations, "per user: round-robin"
    paths = [path["path"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert paths == ["/ws/notifications/", STREAM]
