"""Content, history, versions and restore over REST."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc
from rest_framework.test import APIClient

from backend.collab.core import update_split
from backend.collab.core.ports import PendingWrite
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.collab.storage import update_log
from backend.documents.models import Role
from tests.support.factories import make_document, make_user, share, token_for
from tests.support.rest import api
from tests.support.scene import Scene

pytestmark = pytest.mark.django_db
DOUBLE_INTEGRATION = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "yrs_double_integration.json").read_text()
)


@pytest.fixture
def doc_url(owner_client: APIClient) -> str:
    document = make_document(owner=owner_client.user)  # type: ignore[attr-defined]
    return f"/api/documents/{document.id}/"


def test_new_document_is_empty(owner_client: APIClient, doc_url: str) -> None:
    body = owner_client.get(f"{doc_url}content/").json()
    assert body == {"text": "", "html": "", "seq": 0}


def test_put_text_then_read_it_back(owner_client: APIClient, doc_url: str) -> None:
    put = owner_client.put(f"{doc_url}content/", {"text": "Title\n\nA <b>line</b> & more"})
    assert put.status_code == 200
    assert put.json()["seq"] == 1
    body = owner_client.get(f"{doc_url}content/").json()
    assert body["text"] == "Title\n\nA <b>line</b> & more"
    assert body["html"] == "<p>Title</p><p></p><p>A &lt;b&gt;line&lt;/b&gt; &amp; more</p>"
    assert body["seq"] == 1


def test_put_text_with_a_lone_surrogate_is_refused_and_changes_nothing(
    owner_client: APIClient, doc_url: str
) -> None:
    body = '{"text": "half an emoji: \\ud83d"}'  # valid JSON, not encodable as UTF-8
    put = owner_client.put(f"{doc_url}content/", body, content_type="application/json")
    assert put.status_code == 400
    assert "text" in put.json()
    assert owner_client.get(f"{doc_url}content/").json()["seq"] == 0


def test_history_versions_and_restore(owner_client: APIClient, doc_url: str) -> None:
    for text in ["one", "one two", "one two three"]:
        owner_client.put(f"{doc_url}content/", {"text": text})
    history = owner_client.get(f"{doc_url}history/").json()
    assert history["count"] == 3
    assert [row["seq"] for row in history["results"]] == [3, 2, 1]
    assert history["results"][0]["author"] == "olivia"
    assert all(row["size"] > 0 for row in history["results"])

    assert owner_client.get(f"{doc_url}versions/1/").json() == {
        "text": "one",
        "html": "<p>one</p>",
        "seq": 1,
    }
    assert owner_client.get(f"{doc_url}versions/0/").json()["text"] == ""
    assert owner_client.get(f"{doc_url}versions/4/").status_code == 404

    restored = owner_client.post(f"{doc_url}restore/", {"seq": 1})
    assert restored.status_code == 200
    assert restored.json() == {"text": "one", "html": "<p>one</p>", "seq": 4}
    assert owner_client.get(f"{doc_url}content/").json()["text"] == "one"
    assert owner_client.get(f"{doc_url}versions/3/").json()["text"] == "one two three"
    assert owner_client.get(f"{doc_url}history/").json()["count"] == 4


def test_restore_refuses_an_unknown_version(owner_client: APIClient, doc_url: str) -> None:
    response = owner_client.post(f"{doc_url}restore/", {"seq": 9})
    assert response.status_code == 400
    assert "seq" in response.json()
    assert not DocumentUpdate.objects.exists()


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("editor", 200, 200), ("viewer", 200, 403), ("stranger", 404, 404), ("anonymous", 401, 401)],
)
def test_roles_on_content_endpoints(
    login: Callable[..., APIClient], role: str, read: int, write: int
) -> None:
    document = make_document()
    user = make_user()
    if role in ("editor", "viewer"):
        share(document, user, Role(role))
    client = APIClient() if role == "anonymous" else login(user)
    base = f"/api/documents/{document.id}/"
    for path in ["content/", "history/", "versions/0/"]:
        assert client.get(base + path).status_code == read, path
    assert client.put(f"{base}content/", {"text": "x"}).status_code == write
    assert client.post(f"{base}restore/", {"seq": 0}).status_code == write
    expected = 2 if write == 200 else 0
    assert DocumentUpdate.objects.filter(document=document).count() == expected


async def test_rest_write_appears_live_in_open_editors(scene: Scene) -> None:
    editor = await scene.client(scene.editor, hello=0)
    editor.append_paragraph("typed live")
    await editor.wait_for(lambda: 1 in editor.acks)  # committed before the REST write
    path = f"/api/documents/{scene.document.id}/content/"
    text = {"text": "from REST\nsecond line"}
    body = await asyncio.to_thread(api, scene.server, "PUT", path, text, token_for(scene.owner))
    assert body["text"] == "from REST\nsecond line"
    await editor.wait_text("from REST\nsecond line")


def test_a_snapshot_damaged_by_the_yrs_encoding_bug_is_read_past(
    owner_client: APIClient, doc_url: str
) -> None:
    """Snapshots written before fixed bug 11 (docs/reliability.md) can lack text; the load
    ignores them and replays the log rows before them."""
    document_id = uuid.UUID(doc_url.split("/")[-2])
    updates = [bytes.fromhex(u) for u in DOUBLE_INTEGRATION["updates"]]
    update_log.append(document_id, [PendingWrite(u, None) for u in updates])
    from_log = owner_client.get(f"{doc_url}content/").json()
    plain: Doc[Any] = Doc()  # the state as plain pycrdt encoded it: without "zay"
    for update in updates:
        plain.apply_update(update)
    damaged = plain.get_update()
    assert update_split.damaged(damaged)
    # Stored as an older Tandem stored it (no sound_encoding: the column's default).
    DocumentSnapshot.objects.create(document_id=document_id, seq=len(updates), state=damaged)
    assert owner_client.get(f"{doc_url}content/").json() == from_log
    assert "yzay" in from_log["text"]
