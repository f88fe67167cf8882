"""Abuse at the edges: forged tokens, limits, a client that stops reading, a client that
vanishes without closing. Refused at the documented limits with the documented codes; the
server's memory stays bounded and every token stays out of every log."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import websockets
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from backend.collab.core import protocol
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.factories import make_user, token_for
from tests.support.scene import Scene
from tests.support.servers import free_port
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient

LIMITS = {
    "WS_MAX_MESSAGE_BYTES": "65536",
    "WS_MAX_MESSAGES_PER_SECOND": "50",
    "WS_MAX_CONNECTIONS_PER_USER": "5",
    "WS_MAX_QUEUED_BYTES": "262144",
    "WS_PING_INTERVAL": "1",
    "WS_PING_TIMEOUT": "1",
    "WS_STALL_SECONDS": "2",
}


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return LIMITS


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged_tokens(user: Any, other: Any) -> dict[str, str]:
    good = token_for(user)
    claims = jwt.decode(good, options={"verify_signature": False})
    header, payload, signature = good.split(".")
    key = settings.SIMPLE_JWT.get("SIGNING_KEY", settings.SECRET_KEY)

    def signed(header_fields: dict[str, Any], body: dict[str, Any]) -> str:
        head = _b64(json.dumps(header_fields).encode())
        part = _b64(json.dumps(body).encode())
        mac = hmac.new(key.encode(), f"{head}.{part}".encode(), hashlib.sha256).digest()
        return f"{head}.{part}.{_b64(mac)}"

    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    return {
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}.",
        "alg none (pyjwt)": jwt.encode(claims, key=None, algorithm="none"),
        "HS512 with the right key": jwt.encode(claims, key, algorithm="HS512"),
        "RS256 header, HMAC signature": signed({"alg": "RS256", "typ": "JWT"}, claims),
        "tampered signature": f"{header}.{payload}.{signature[:-3]}"
        + ("AAA" if signature[-3:] != "AAA" else "BBB"),
        "tampered payload": f"{header}."
        + _b64(json.dumps({**claims, "user_id": other.pk}).encode())
        + f".{signature}",
        "expired": str(expired),
        "refresh as access": str(RefreshToken.for_user(user)),
    }


async def test_forged_and_stale_tokens_are_refused_before_any_data_and_never_logged(
    scene: Scene, db_call: Any, tmp_path: Path
) -> None:
    figures = Figures("JWT forgeries and stale tokens")
    other = await db_call(make_user)
    tokens = await db_call(_forged_tokens, scene.owner, other)
    deleted, deactivated = await db_call(make_user), await db_call(make_user)
    tokens["deleted user"] = await db_call(token_for, deleted)
    tokens["deactivated user"] = await db_call(token_for, deactivated)
    await db_call(deleted.delete)
    deactivated.is_active = False
    await db_call(deactivated.save)
    results = {name: await scene.refused(token=token) for name, token in tokens.items()}
    assert results == dict.fromkeys(tokens, (4401, 0)), results
    # A good token still works, and no token (good or forged) appears in the server's log.
    good = token_for(scene.owner)
    client = await scene.client(token=good)
    client.append_paragraph("authenticated")
    await client.wait_for(lambda: client.received_frames > 0)
    log = (tmp_path / "server.log").read_text()
    assert "/ws/documents/" in log  # the connections were logged, without their tokens
    leaked = [name for name, token in {**tokens, "good": good}.items() if token in log]
    assert leaked == []
    signatures = [t.split(".")[2] for t in [*tokens.values(), good] if len(t.split(".")[2]) > 10]
    assert not [s for s in signatures if s in log]
    figures.trials, figures.inputs = 1, len(tokens) + 1
    figures.note = "all 4401 with zero frames; no token in the server log"
    harness.record(figures)


async def test_limits_refuse_at_the_documented_bounds_and_memory_stays_bounded(
    scene: Scene,
) -> None:
    figures = Figures("oversized frames, floods, connections per user")
    before = scene.server.rss_kb()
    attempts = harness.size(30, 300)
    codes: dict[str, set[int | None]] = {"oversized": set(), "flood": set()}
    for _ in range(attempts):
        big = await scene.client(scene.editor)
        await big.send_raw(protocol.sync_update(b"\x00" * 70_000))
        codes["oversized"].add(await big.closed())
        await big.close()
    for _ in range(harness.size(5, 50)):
        flood = await scene.client(scene.editor)
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(200):
                await flood.send_raw(protocol.sync_step1(b"\x00"))
        codes["flood"].add(await flood.closed())
        await flood.close()
    # Exactly WS_MAX_CONNECTIONS_PER_USER (5) open; the sixth is refused with no data.
    open_ones = [await scene.client(scene.viewer) for _ in range(5)]
    assert await scene.refused(scene.viewer) == (4429, 0)

    def seats() -> float:
        return scene.server.metric("tandem_connections_open")

    await wait_until_async(lambda: seats() == 5, what="the five connections alone open")
    await open_ones[0].close()
    await wait_until_async(lambda: seats() == 4, what="the closed connection's seat to be freed")
    again = await scene.client(scene.viewer)  # a slot freed by closing is usable again
    assert again.close_code is None
    assert codes == {"oversized": {1009}, "flood": {4429}}
    writer = await scene.client(scene.owner)
    writer.append_paragraph("still serving")
    await again.wait_text("still serving")
    after = scene.server.rss_kb()
    assert after - before < 64 * 1024, (before, after)
    figures.trials, figures.inputs = 1, attempts + harness.size(5, 50) + 7
    figures.rss_before_kb, figures.rss_after_kb = before, after
    figures.note = (
        f"{attempts} frames of 70 kB (limit 64 KiB) -> 1009; floods -> 4429; "
        "6th connection of a user -> 4429"
    )
    harness.record(figures)


async def test_a_stalled_reader_keeps_memory_bounded_others_unaffected(
    scene: Scene, tmp_path: Path
) -> None:
    """A client that stops reading (tiny receive buffer, nothing read) in a busy document:
    the writer goes on until the server has fallen WS_MAX_QUEUED_BYTES behind on it (how
    much that takes depends on the kernel's socket buffers, 4 MiB or more), so the server's
    close cannot flush, and only WS_STALL_SECONDS frees it."""
    figures = Figures("stalled client in a busy document")
    log = tmp_path / "server.log"
    before = scene.server.rss_kb()
    watcher = await scene.client(scene.viewer)
    stalled_socket = socket.socket()
    stalled_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled_socket.connect(("127.0.0.1", scene.server.port))
    stalled = await websockets.connect(
        scene.url(scene.editor), sock=stalled_socket, max_queue=1, compression=None, max_size=None
    )
    await stalled.send(protocol.sync_step1(b"\x00"))
    await asyncio.wait_for(stalled.recv(), 10)  # admitted: its seat is counted below
    open_before = scene.server.metric("tandem_connections_open")
    writer = await scene.client(scene.owner)
    # Enough 50 kB updates to pass any socket buffers the kernel grants (tcp_wmem's maximum
    # on the server side), and a few more at the large size.
    most = 3 * _send_buffer_max() // 50_000 + harness.size(0, 200)
    count = 0
    started = time.monotonic()
    while count < most and (count < 20 or _SLOW not in log.read_text()):
        writer.append_paragraph(f"{count:04d}" + "x" * 50_000)
        count += 1
        await asyncio.sleep(1 / 40)  # pacing: under the 50 messages/s limit
        # The watcher shares this process with the writer; at the large size it could fall
        # WS_MAX_QUEUED_BYTES behind and be cut off as a slow consumer itself (4408).
        await watcher.wait_for(lambda n=count - 3: len(watcher.body.children) >= n, timeout=30)
    await watcher.wait_for(lambda: len(watcher.body.children) == count, timeout=60)
    assert _SLOW in log.read_text(), f"{count} updates of 50 kB never filled the stalled socket"
    delivered = time.monotonic() - started
    # The server closes the stalled socket (4408, then the ping timeout), but a close waits
    # for a flush that never comes: WS_STALL_SECONDS (2 s here) cuts it off.
    # Allowed 10 s (WS_STALL_SECONDS is 2 s): on a loaded 2-core machine the cut-off has
    # been seen to take over 5 s. The time it took is in the figures' note.
    caught_up = time.monotonic()
    try:
        await wait_until_async(
            lambda: (
                scene.server.metric("tandem_connections_open") < open_before + 1
                and "cutting off a WebSocket client" in log.read_text()
            ),
            timeout=10,
            every=0.2,
            what="the stalled socket to be cut off and its seat freed, once the others caught up",
        )
        freed_after = time.monotonic() - caught_up
    finally:
        stalled.transport.abort()
    after = scene.server.rss_kb()
    assert after - before < 128 * 1024, (before, after)
    figures.trials, figures.sent = 1, count
    figures.acked = count  # all reached the watcher
    figures.converge_seconds = delivered
    figures.rss_before_kb, figures.rss_after_kb = before, after
    figures.note = (
        f"{count} updates of 50 kB to the others in {delivered:.1f} s; queue bound "
        f"256 KiB; stalled socket freed {freed_after:.1f} s after the others caught up"
    )
    harness.record(figures)


_SLOW = "closing a connection that fell"  # the server's log line for a 4408 close


def _send_buffer_max() -> int:
    """The most a TCP socket's send buffer may grow to here (net.ipv4.tcp_wmem's maximum)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024  # Linux's default


class FreezingProxy:
    """A TCP proxy that can go silent: it stops forwarding both ways without closing anything
    (a half-open connection, as when a laptop drops off the network)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.frozen = asyncio.Event()
        self.released = asyncio.Event()
        self.held: list[Any] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: Any, writer: Any) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.held += [writer, up_writer]

        async def pump(src: Any, dst: Any) -> None:
            while not self.frozen.is_set():
                data = await src.read(65536)
                if not data or self.frozen.is_set():
                    return
                dst.write(data)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        await self.released.wait()  # keep both sockets open (and silent) until the test ends

    def close(self) -> None:
        self.released.set()
        self.server.close()
        for writer in self.held:
            writer.transport.abort()


async def test_half_open_socket_is_noticed_and_its_cursor_disappears(scene: Scene) -> None:
    figures = Figures("half-open socket (ping/pong)")
    proxy = FreezingProxy(scene.server.port)
    await proxy.start()
    observer = await scene.client(scene.viewer)
    url = scene.url(scene.editor).replace(f":{scene.server.port}/", f":{proxy.port}/")
    ghost = YClient(url)
    scene.clients.append(ghost)
    await ghost.connect()
    await asyncio.wait_for(ghost.synced.wait(), 10)
    await ghost.set_awareness(4242, 1, {"user": {"name": "Ghost"}})
    await observer.wait_for(lambda: 4242 in observer.awareness)
    open_before = scene.server.metric("tandem_connections_open")
    proxy.frozen.set()
    frozen_at = time.monotonic()
    await observer.wait_for(lambda: 4242 not in observer.awareness, timeout=15)
    noticed = time.monotonic() - frozen_at
    assert scene.server.metric("tandem_connections_open") == open_before - 1
    late = await scene.client(scene.owner)
    assert 4242 not in late.awareness
    proxy.close()
    ghost.ws.transport.abort() if ghost.ws else None
    figures.trials, figures.converge_seconds = 1, noticed
    figures.note = "WS_PING_INTERVAL=1, WS_PING_TIMEOUT=1: cursor gone for everyone"
    harness.record(figures)
