"""Who may open a document's socket, and the close code everyone else gets."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
import websockets
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from backend.collab.core import protocol
from backend.documents.models import Membership
from backend.documents.tokens import TokenObtainSerializer, user_logout_everywhere
from tests.support.factories import make_user, token_for
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient


def _expired_token(user: object) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("none", 4401),
        ("garbage", 4401),
        ("expired", 4401),
        ("refresh", 4401),
        ("tampered", 4401),
        ("stranger", 4404),
        ("unknown-document", 4404),
        ("malformed-document-id", 4404),
    ],
)
async def test_refusals_send_no_document_data(
    scene: Scene, db_call, kind: str, expected: int
) -> None:
    stranger = await db_call(make_user)
    owner_token = token_for(scene.owner)
    connections: dict[str, dict[str, Any]] = {
        "none": {"token": ""},
        "garbage": {"token": "not.a.jwt"},
        "expired": {"token": _expired_token(scene.owner)},
        "refresh": {"token": str(RefreshToken.for_user(scene.owner))},
        "tampered": {
            "token": owner_token[:-2] + ("A" if owner_token[-2] != "A" else "B") + owner_token[-1]
        },
        "stranger": {"user": stranger},
        "unknown-document": {"document": uuid.uuid4()},
        "malformed-document-id": {"document": "nope"},
    }
    code, frames = await scene.refused(**connections[kind])
    assert code == expected
    assert frames == 0


async def test_deactivated_user_is_refused(scene: Scene, db_call) -> None:
    token = token_for(scene.editor)
    scene.editor.is_active = False
    await db_call(scene.editor.save)
    assert await scene.refused(token=token) == (4401, 0)


async def test_token_expiring_mid_session_closes_with_4401(scene: Scene) -> None:
    token = AccessToken.for_user(scene.owner)
    token.set_exp(lifetime=timedelta(seconds=2))
    client = await scene.client(token=str(token))
    client.append_paragraph("before expiry")
    assert await client.closed(timeout=10) == 4401


async def test_foreign_origin_is_refused_at_handshake(scene: Scene) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(scene.url(), origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    allowed = YClient(scene.url())
    scene.clients.append(allowed)
    await allowed.connect(origin=f"http://127.0.0.1:{scene.server.port}")
    await asyncio.wait_for(allowed.synced.wait(), 10)


async def test_access_changes_apply_to_open_connections(scene: Scene, db_call) -> None:
    """Removing a member closes their socket (4404); a role change applies without reconnecting;
    deactivating a user closes theirs (4403)."""
    editor = await scene.client(scene.editor)
    viewer = await scene.client(scene.viewer, hello=0)
    owner = await scene.client(scene.owner)
    await db_call(lambda: Membership.objects.filter(user=scene.editor).delete())
    assert await editor.closed(timeout=10) == 4404

    await db_call(lambda: Membership.objects.filter(user=scene.viewer).update(role="editor"))

    async def promoted() -> bool:
        # An editor's empty update is acknowledged, a viewer's is not: probe until the
        # server's next access check (every LOG_CHECK_SECONDS) reached the open connection.
        await viewer.send_raw(protocol.sync_update(protocol.EMPTY_UPDATE))
        return bool(viewer.acks)

    await wait_until_async(promoted, every=0.2, what="the role change to reach the viewer")
    viewer.append_paragraph("promoted")
    await owner.wait_text("promoted")

    scene.owner.is_active = False
    await db_call(scene.owner.save)
    assert await owner.closed(timeout=10) == 4403


async def test_logout_everywhere_closes_open_sockets_and_refuses_old_tokens(
    scene: Scene, db_call
) -> None:
    token = await db_call(lambda: str(TokenObtainSerializer.get_token(scene.editor).access_token))
    editor = await scene.client(token=token)
    await db_call(lambda: user_logout_everywhere(user=scene.editor))
    assert await editor.closed(timeout=10) == 4401
    assert await scene.refused(token=token) == (4401, 0)


async def test_a_storm_of_sockets_each_gets_its_own_answer(scene: Scene, db_call) -> None:
    """Sockets opened together are admitted together (one round of queries for many):
    each still gets the answer it would get alone, with nothing sent to the refused."""
    stranger = await db_call(make_user)
    gone = await db_call(make_user, is_active=False)
    tokens = {user: token_for(user) for user in (scene.owner, scene.editor, scene.viewer)}
    other = uuid.uuid4()
    kinds: dict[str, tuple[dict[str, Any], int | None]] = {
        "owner": ({"token": tokens[scene.owner]}, None),
        "editor": ({"token": tokens[scene.editor]}, None),
        "viewer": ({"token": tokens[scene.viewer]}, None),
        "own-token-each": ({"user": scene.editor}, None),
        "stranger": ({"user": stranger}, 4404),
        "deactivated": ({"user": gone}, 4401),
        "garbage": ({"token": "not.a.jwt"}, 4401),
        "unknown-document": ({"token": tokens[scene.owner], "document": other}, 4404),
        "malformed-document-id": ({"token": tokens[scene.viewer], "document": "nope"}, 4404),
    }
    order = [kind for kind in kinds for _ in range(15)]
    random.Random(15).shuffle(order)
    clients = [YClient(scene.url(**kinds[kind][0])) for kind in order]
    scene.clients.extend(clients)
    await asyncio.gather(*(c.connect() for c in clients))

    async def outcome(client: YClient) -> tuple[int | None, int]:
        synced = asyncio.create_task(client.synced.wait())
        closed = asyncio.create_task(client.closed(timeout=30))
        await asyncio.wait({synced, closed}, return_when=asyncio.FIRST_COMPLETED, timeout=30)
        synced.cancel()
        closed.cancel()
        return client.close_code, client.received_frames

    outcomes = await asyncio.gather(*(outcome(c) for c in clients))
    for kind, client, (code, frames) in zip(order, clients, outcomes, strict=True):
        assert code == kinds[kind][1], (kind, code)
        if code is not None:
            assert frames == 0, kind
        else:
            assert client.synced.is_set(), kind


async def test_a_token_seen_before_is_still_refused_once_expired_or_altered(
    scene: Scene,
) -> None:
    token = AccessToken.for_user(scene.owner)
    token.set_exp(lifetime=timedelta(seconds=2))
    text = str(token)
    first = await scene.client(token=text)  # verified once: the verdict is kept
    tampered = text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]
    assert await scene.refused(token=tampered) == (4401, 0)
    assert await first.closed(timeout=10) == 4401  # the token's expiry
    assert await scene.refused(token=text) == (4401, 0)
