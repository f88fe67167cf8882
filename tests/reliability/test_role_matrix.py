"""Every role against every collab endpoint and every WebSocket message type.

Owners and editors write; viewers read and are refused writes (403 over REST, the
``permission-denied`` auth message over the socket, nothing stored); strangers get exactly
what a missing document gets (404 / 4404, zero frames); anonymous callers 401 / 4401.
"""

from __future__ import annotations

import uuid
from typing import Any

from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from backend.collab.core import protocol
from backend.documents.models import Document
from tests.support.factories import make_user, token_for
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient

ROLES = ["owner", "editor", "viewer", "stranger", "anonymous"]
ENDPOINTS = {
    "GET content": ("get", "content/", None),
    "PUT content": ("put", "content/", {"text": "replaced"}),
    "GET history": ("get", "history/", None),
    "GET versions/0": ("get", "versions/0/", None),
    "POST restore": ("post", "restore/", {"seq": 0}),
    "GET presence": ("get", "presence/", None),
}
WRITES = {"PUT content", "POST restore"}


def _expected(role: str, endpoint: str) -> int:
    if role == "anonymous":
        return 401
    if role == "stranger":
        return 404
    if role == "viewer" and endpoint in WRITES:
        return 403
    return 200


def _client(scene: Scene, role: str) -> APIClient:
    client = APIClient()
    users = {"owner": scene.owner, "editor": scene.editor, "viewer": scene.viewer}
    if role == "stranger":
        users["stranger"] = make_user()
    if role in users:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(users[role])}")
    return client


def _rest_matrix(scene: Scene) -> dict[tuple[str, str], Any]:
    got = {}
    missing = APIClient()
    missing.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(make_user())}")
    for role in ROLES:
        client = _client(scene, role)
        for name, (method, suffix, body) in ENDPOINTS.items():
            path = f"/api/documents/{scene.document.id}/{suffix}"
            response = getattr(client, method)(path, body, format="json")
            got[(role, name)] = response.status_code
            if role == "stranger":
                # Exactly what a document that does not exist gets: no hint it exists.
                other = getattr(missing, method)(
                    f"/api/documents/{uuid.uuid4()}/{suffix}", body, format="json"
                )
                assert (response.status_code, response.json()) == (
                    other.status_code,
                    other.json(),
                ), name
    return got


async def test_every_role_against_every_collab_endpoint(scene: Scene) -> None:
    got = await sync_to_async(_rest_matrix)(scene)
    expected = {(r, e): _expected(r, e) for r in ROLES for e in ENDPOINTS}
    assert got == expected


MESSAGES = {
    "sync step 1": protocol.sync_step1(b"\x00"),
    "sync step 2": None,  # built from a local edit
    "sync update": None,
    "awareness": None,
    "query awareness": bytes([protocol.MessageType.QUERY_AWARENESS]),
    "tandem hello": protocol.hello(0),
}


async def _ws_row(scene: Scene, role: str, observer: YClient) -> dict[str, str]:
    users = {"owner": scene.owner, "editor": scene.editor, "viewer": scene.viewer}
    if role in ("stranger", "anonymous"):
        token = (
            ""
            if role == "anonymous"
            else await sync_to_async(token_for)(await sync_to_async(make_user)())
        )
        code, frames = await scene.refused(token=token)
        return dict.fromkeys(MESSAGES, f"closed {code}, {frames} frames")
    client = await scene.client(users[role], hello=0)
    await client.wait_for(lambda: client.head is not None)
    row: dict[str, str] = {"tandem hello": f"head {client.head}"}
    before = client.received_frames
    await client.send_raw(MESSAGES["sync step 1"])
    await client.wait_for(lambda: client.received_frames > before)
    row["sync step 1"] = "answered"
    label = f"{role}-edit"
    client.append_paragraph(label)  # goes out as a sync update
    await client.send_raw(protocol.sync_step2(client.doc.get_update()))
    await wait_until_async(
        lambda: label in observer.text() or bool(client.denied),
        what=f"the {role}'s edit to be stored or refused",
    )
    stored = label in observer.text()
    row["sync update"] = row["sync step 2"] = (
        "stored" if stored else (f"refused: {client.denied[:1]}" if client.denied else "dropped")
    )
    client_id = 900 + ROLES.index(role)
    await client.set_awareness(client_id, 1, {"user": {"name": role}})
    await observer.wait_for(lambda: client_id in observer.awareness)
    row["awareness"] = "relayed"
    before = client.received_frames
    await client.send_raw(MESSAGES["query awareness"])
    await client.wait_for(lambda: client.received_frames > before)
    row["query awareness"] = "answered"
    assert client.close_code is None
    return row


async def test_every_role_against_every_websocket_message_type(scene: Scene, db_call) -> None:
    observer = await scene.client(scene.owner)
    got = {role: await _ws_row(scene, role, observer) for role in ROLES}
    denied = "refused: ['read-only: you are a viewer of this document']"
    writer = {
        "tandem hello": "head 0",
        "sync step 1": "answered",
        "sync step 2": "stored",
        "sync update": "stored",
        "awareness": "relayed",
        "query awareness": "answered",
    }
    assert got["owner"] == writer
    assert got["editor"] == {**writer, "tandem hello": "head 1"}
    assert got["viewer"] == {
        **writer,
        "tandem hello": "head 2",
        "sync step 2": denied,
        "sync update": denied,
    }
    assert got["stranger"] == dict.fromkeys(MESSAGES, "closed 4404, 0 frames")
    assert got["anonymous"] == dict.fromkeys(MESSAGES, "closed 4401, 0 frames")
    head = await db_call(lambda: Document.objects.get(pk=scene.document.pk).head_seq)
    assert head == 2  # the owner's and the editor's edits; nothing from the viewer
    assert "viewer-edit" not in observer.text()
