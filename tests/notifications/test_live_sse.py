"""``GET /api/notifications/stream/`` with a raw HTTP client: replay after Last-Event-ID,
live events from another replica, heartbeats, refused tokens, and no token in the log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from backend.documents.tokens import TokenObtainSerializer, user_logout_everywhere
from tests.support.factories import make_document, make_user, token_for
from tests.support.live_notifications import EventStream
from tests.support.rest import api
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess

STREAM = "/api/notifications/stream/"


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return {**FAST, "SSE_HEARTBEAT_SECONDS": "0.3"}


class Streams:
    """The member's notifications made through REST, and streams opened as them."""

    def __init__(self, scene: Scene, member: Any, document: Any) -> None:
        self.scene = scene
        self.member = member
        self.document = document
        self.owner_token = token_for(scene.owner)
        self.opened: list[EventStream] = []
        self.renames = 0

    async def open(
        self, path: str = STREAM, *, on: TandemProcess | None = None, **headers: str
    ) -> EventStream:
        server = on or self.scene.server
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        stream = EventStream(server.port, path, named)
        self.opened.append(stream)
        return await stream.open()

    def bearer(self) -> str:
        return f"Bearer {token_for(self.member)}"

    async def rename(self, on: TandemProcess | None = None) -> None:
        self.renames += 1
        path = f"/api/documents/{self.document.id}/"
        await asyncio.to_thread(
            api,
            on or self.scene.server,
            "PATCH",
            path,
            {"title": f"v{self.renames}"},
            self.owner_token,
        )


@pytest.fixture
async def streams(scene: Scene, db_call: Callable[..., Any]) -> AsyncIterator[Streams]:
    member = await db_call(make_user, username="member")
    document = await db_call(make_document, owner=scene.owner, title="Plan")
    made = Streams(scene, member, document)
    path = f"/api/documents/{document.id}/members/"
    body = {"username": "member", "role": "viewer"}
    await asyncio.to_thread(api, scene.server, "POST", path, body, made.owner_token)  # 1
    yield made
    for stream in made.opened:
        await stream.close()


async def test_last_event_id_replays_what_was_missed_then_goes_live(
    streams: Streams, second: TandemProcess
) -> None:
    for _ in range(3):
        await streams.rename()  # 2, 3, 4
    stream = await streams.open(Authorization=streams.bearer(), Last_Event_ID="2")
    assert stream.status == 200
    assert stream.response_headers["content-type"] == "text/event-stream"
    assert stream.response_headers["cache-control"] == "no-cache"
    assert stream.response_headers["x-accel-buffering"] == "no"
    await stream.wait_for(lambda: stream.ready is not None)
    assert stream.ids == [3, 4]
    assert [m["id"] for m in stream.messages] == ["3", "4", "4"], "ready carries the head"
    assert stream.ready == {"type": "ready", "id": "4", "head": 4, "unread": 4}
    assert stream.messages[0]["notification"]["type"] == "document.renamed"
    assert stream.retry == 3000

    await streams.rename(on=second)  # 5, made on the other replica
    await stream.wait_ids(5)
    assert stream.ids == [3, 4, 5]

    by_query = await streams.open(f"{STREAM}?after=3", Authorization=streams.bearer())
    header_wins = await streams.open(
        f"{STREAM}?after=0", Authorization=streams.bearer(), Last_Event_ID="4"
    )
    fresh = await streams.open(f"{STREAM}?token={token_for(streams.member)}")
    for opened in (by_query, header_wins, fresh):
        await opened.wait_for(lambda s=opened: s.ready is not None)
    assert by_query.ids == [4, 5]
    assert header_wins.ids == [5]
    assert fresh.ids == []
    assert fresh.ready is not None
    assert fresh.ready["head"] == 5


async def test_heartbeats_keep_an_idle_stream_alive(streams: Streams) -> None:
    stream = await streams.open(Authorization=streams.bearer())
    await stream.wait_for(lambda: stream.comments.count("keepalive") >= 3, timeout=5)
    assert not stream.ended.is_set()


@pytest.mark.parametrize("kind", ["none", "garbage", "refresh", "expired", "revoked", "inactive"])
async def test_a_refused_token_answers_401(
    streams: Streams, db_call: Callable[..., Any], kind: str
) -> None:
    member = streams.member
    expired = AccessToken.for_user(member)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    tokens: dict[str, Callable[[], Any]] = {
        "none": lambda: "",
        "garbage": lambda: "not.a.jwt",
        "refresh": lambda: str(RefreshToken.for_user(member)),
        "expired": lambda: str(expired),
        "revoked": lambda: str(TokenObtainSerializer.get_token(member).access_token),
        "inactive": lambda: token_for(member),
    }
    token = await db_call(tokens[kind])
    if kind == "revoked":
        await db_call(lambda: user_logout_everywhere(user=member))
    if kind == "inactive":
        member.is_active = False
        await db_call(member.save)
    for stream in (
        await streams.open(f"{STREAM}?token={token}"),
        await streams.open(Authorization=f"Bearer {token}"),
    ):
        assert stream.status == 401
        assert "access token" in (await stream.json_body())["detail"]


async def test_a_malformed_last_event_id_answers_400(streams: Streams) -> None:
    for headers in ({"Last_Event_ID": "x"}, {"Last_Event_ID": "-1"}):
        stream = await streams.open(Authorization=streams.bearer(), **headers)
        assert stream.status == 400
    stream = await streams.open(f"{STREAM}?after=abc", Authorization=streams.bearer())
    assert stream.status == 400


async def test_the_token_never_reaches_the_server_log(scene: Scene, streams: Streams) -> None:
    good = token_for(streams.member)
    stream = await streams.open(f"{STREAM}?token={good}&after=0")
    await stream.wait_for(lambda: stream.ready is not None)
    refused = await streams.open(f"{STREAM}?token={good[:-3]}abc")
    assert refused.status == 401
    await stream.close()
    await asyncio.sleep(0.5)
    scene.server.stop()
    assert scene.server.log_path is not None
    log = scene.server.log_path.read_text()
    assert f"{STREAM}?token=[redacted]&after=0" in log, "the stream's request was not logged"
    assert good not in log
    assert good[:-3] not in log
    assert good.split(".")[2] not in log, "the token's signature is in the log"
