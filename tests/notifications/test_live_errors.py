"""Every refusal of the live notification channels answers with its documented close code
or status: tokens, ``after``, the per-user connection cap (WebSocket and SSE together),
client floods, token expiry and revocation, foreign origins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import websockets
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from backend.documents.tokens import TokenObtainSerializer, user_logout_everywhere
from tests.support.factories import make_user, token_for
from tests.support.live_notifications import EventStream, NotificationSocket
from tests.support.scene import FAST, Scene
from tests.support.waiting import wait_until_async

STREAM = "/api/notifications/stream/"


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return {
        **FAST,
        "NOTIFICATIONS_MAX_CONNECTIONS_PER_USER": "2",
        "WS_MAX_MESSAGES_PER_SECOND": "5",
    }


class Opener:
    def __init__(self, scene: Scene, user: Any) -> None:
        self.scene = scene
        self.user = user
        self.opened: list[NotificationSocket | EventStream] = []

    async def socket(self, query: str | None = None, **connect: Any) -> NotificationSocket:
        query = query if query is not None else f"token={token_for(self.user)}"
        socket = NotificationSocket(f"{self.scene.server.ws_url}/ws/notifications/?{query}")
        self.opened.append(socket)
        return await socket.connect(**connect)

    async def stream(self, query: str = "") -> EventStream:
        path = f"{STREAM}?token={token_for(self.user)}{query}"
        stream = EventStream(self.scene.server.port, path)
        self.opened.append(stream)
        return await stream.open()


@pytest.fixture
async def opener(scene: Scene, db_call: Callable[..., Any]) -> AsyncIterator[Opener]:
    made = Opener(scene, await db_call(make_user, username="member"))
    yield made
    for opened in made.opened:
        await opened.close()


def _expired(user: Any) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("none", 4401),
        ("garbage", 4401),
        ("expired", 4401),
        ("refresh", 4401),
        ("after-not-a-number", 4400),
        ("after-negative", 4400),
    ],
)
async def test_refusals_close_with_the_documented_code_and_send_nothing(
    opener: Opener, kind: str, code: int
) -> None:
    user = opener.user
    queries = {
        "none": "",
        "garbage": "token=not.a.jwt",
        "expired": f"token={_expired(user)}",
        "refresh": f"token={RefreshToken.for_user(user)}",
        "after-not-a-number": f"token={token_for(user)}&after=abc",
        "after-negative": f"token={token_for(user)}&after=-1",
    }
    socket = await opener.socket(queries[kind])
    assert await socket.closed() == code
    assert socket.messages == []


async def test_websocket_and_sse_share_the_per_user_cap(opener: Opener) -> None:
    first = await opener.socket()
    stream = await opener.stream()
    await first.wait_for(lambda: first.ready is not None)
    await stream.wait_for(lambda: stream.ready is not None)
    third = await opener.socket()
    assert await third.closed() == 4429
    assert third.messages == []
    refused = await opener.stream()
    assert refused.status == 429
    await first.close()

    async def seat_free() -> bool:
        again = await opener.stream()
        await again.close()
        return again.status == 200

    await wait_until_async(seat_free, what="the closed socket's seat", every=0.2)


async def test_a_stream_the_client_drops_frees_its_seat(opener: Opener) -> None:
    streams = [await opener.stream(), await opener.stream()]
    for stream in streams:
        await stream.wait_for(lambda s=stream: s.ready is not None)
    assert (await opener.stream()).status == 429
    await streams[0].close()  # the TCP connection goes; no close message in SSE

    async def seat_free() -> bool:
        again = await opener.stream()
        await again.close()
        return again.status == 200

    await wait_until_async(seat_free, what="the dropped stream's seat", every=0.2)


async def test_client_frames_are_ignored_but_a_flood_closes_with_4429(opener: Opener) -> None:
    socket = await opener.socket()
    await socket.wait_for(lambda: socket.ready is not None)
    await socket.send('{"type": "ping"}')
    await socket.send("not json at all")
    await asyncio.sleep(0.3)
    assert socket.is_open
    for _ in range(50):
        await socket.send("ping")
    assert await socket.closed() == 4429


async def test_a_token_expiring_while_open_closes_with_4401(opener: Opener) -> None:
    token = AccessToken.for_user(opener.user)
    token.set_exp(lifetime=timedelta(seconds=2))
    socket = await opener.socket(f"token={token}")
    await socket.wait_for(lambda: socket.ready is not None)
    assert await socket.closed(timeout=10) == 4401


async def test_logging_out_everywhere_ends_open_sockets_and_streams(
    opener: Opener, db_call: Callable[..., Any]
) -> None:
    token = await db_call(lambda: str(TokenObtainSerializer.get_token(opener.user).access_token))
    socket = await opener.socket(f"token={token}")
    stream = EventStream(opener.scene.server.port, f"{STREAM}?token={token}")
    opener.opened.append(stream)
    await stream.open()
    await socket.wait_for(lambda: socket.ready is not None)
    await stream.wait_for(lambda: stream.ready is not None)
    await db_call(lambda: user_logout_everywhere(user=opener.user))
    assert await socket.closed(timeout=10) == 4401
    await asyncio.wait_for(stream.ended.wait(), 10)


async def test_a_foreign_origin_is_refused_at_the_handshake(opener: Opener) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await opener.socket(origin="https://evil.example")
    assert refused.value.response.status_code == 403
