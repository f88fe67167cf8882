"""Mentions through a real server: Yjs clients write TipTap's mention element into the body
over the WebSocket, members read their inbox over REST.

An update's notifications commit in its transaction, so once its row is in the log the
inbox holds all it will: the tests wait for the row, then read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import XmlElement, XmlText

from backend.collab.core.mentions import Mention
from backend.collab.core.ports import PendingWrite
from backend.collab.models import DocumentUpdate
from backend.collab.signals import mentions_committed
from backend.collab.storage import update_log
from backend.documents.models import Role
from backend.notifications.models import Notification
from tests.support.factories import make_document, make_user, share, token_for
from tests.support.rest import api
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient

DbCall = Callable[..., Any]


def _mention(username: str) -> XmlElement:
    return XmlElement("mention", {"id": username, "label": username})


def _write_paragraph(client: YClient, *children: str | XmlElement) -> None:
    nodes = [XmlText(c) if isinstance(c, str) else c for c in children]
    client.body.children.append(XmlElement("paragraph", None, nodes))


async def _stored(scene: Scene, db_call: DbCall, count: int) -> None:
    """Wait until the log holds ``count`` updates of the scene's document."""

    def held() -> int:
        return DocumentUpdate.objects.filter(document=scene.document).count()

    await wait_until_async(lambda: db_call(lambda: held() >= count), what=f"{count} stored updates")
    assert await db_call(held) == count


async def _inbox(scene: Scene, db_call: DbCall, user: Any) -> list[dict[str, Any]]:
    token = await db_call(token_for, user)
    answer = await asyncio.to_thread(api, scene.server, "GET", "/api/notifications/", None, token)
    return list(answer["results"])


async def test_a_member_is_told_once_per_added_mention(scene: Scene, db_call: DbCall) -> None:
    owner = await scene.client(scene.owner)
    _write_paragraph(owner, "Can you check this, ", _mention("editor"), "?")
    await _stored(scene, db_call, 1)
    (told,) = await _inbox(scene, db_call, scene.editor)
    assert told["type"] == "mention"
    assert told["actor"] == {"id": scene.owner.pk, "username": "owner"}
    assert told["document"] == {"id": str(scene.document.id), "title": scene.document.title}
    assert told["data"] == {"text": "Can you check this, @editor?"}
    assert await _inbox(scene, db_call, scene.owner) == [], "the author was told"
    assert await _inbox(scene, db_call, scene.viewer) == []
    # A viewer is a member too: mentioned, they are told.
    _write_paragraph(owner, _mention("viewer"), " FYI")
    await _stored(scene, db_call, 2)
    assert [n["data"] for n in await _inbox(scene, db_call, scene.viewer)] == [
        {"text": "@viewer FYI"}
    ]


async def test_unrelated_edits_tell_nobody(scene: Scene, db_call: DbCall) -> None:
    owner = await scene.client(scene.owner)
    _write_paragraph(owner, "Hello ", _mention("editor"))
    await _stored(scene, db_call, 1)
    owner.type_into(0, 6, "dear ")  # beside the mention
    _write_paragraph(owner, "a new paragraph, no mention")
    owner.type_into(1, 0, "mention: ")  # the word alone is no mention
    await _stored(scene, db_call, 4)
    assert len(await _inbox(scene, db_call, scene.editor)) == 1


async def test_removing_and_adding_again_tells_once(scene: Scene, db_call: DbCall) -> None:
    editor = await scene.client(scene.editor)
    _write_paragraph(editor, "Owner: ", _mention("owner"))
    await _stored(scene, db_call, 1)
    paragraph = editor.body.children[0]
    del paragraph.children[1]
    await _stored(scene, db_call, 2)
    paragraph.children.append(_mention("owner"))
    await _stored(scene, db_call, 3)
    assert len(await _inbox(scene, db_call, scene.owner)) == 1, "told twice"
    # Another paragraph is another mention.
    _write_paragraph(editor, "and again ", _mention("owner"))
    await _stored(scene, db_call, 4)
    texts = [n["data"]["text"] for n in await _inbox(scene, db_call, scene.owner)]
    assert texts == ["and again @owner", "Owner: @owner"]


async def test_a_mention_of_a_non_member_tells_the_author(scene: Scene, db_call: DbCall) -> None:
    stranger = await db_call(make_user, username="stranger")
    owner = await scene.client(scene.owner)
    _write_paragraph(owner, _mention("stranger"), " and ", _mention("nobody"))
    await _stored(scene, db_call, 1)
    assert await _inbox(scene, db_call, stranger) == []
    undelivered = await _inbox(scene, db_call, scene.owner)
    assert sorted((n["type"], n["data"]["username"]) for n in undelivered) == [
        ("mention.undelivered", "nobody"),
        ("mention.undelivered", "stranger"),
    ]
    assert all(n["document"]["id"] == str(scene.document.id) for n in undelivered)
    # Removed and added again: the author is not told twice either.
    paragraph = owner.body.children[0]
    del paragraph.children[0]
    await _stored(scene, db_call, 2)
    paragraph.children.insert(0, _mention("stranger"))
    await _stored(scene, db_call, 3)
    assert len(await _inbox(scene, db_call, scene.owner)) == 2


async def test_mentioning_oneself_tells_nobody(scene: Scene, db_call: DbCall) -> None:
    editor = await scene.client(scene.editor)
    _write_paragraph(editor, "note to self ", _mention("editor"))
    await _stored(scene, db_call, 1)
    assert await _inbox(scene, db_call, scene.editor) == []


async def test_a_viewers_mention_is_refused_and_tells_nobody(scene: Scene, db_call: DbCall) -> None:
    viewer = await scene.client(scene.viewer)
    _write_paragraph(viewer, "Hey ", _mention("editor"), " and ", _mention("nobody"))
    await viewer.wait_for(lambda: bool(viewer.denied))
    owner = await scene.client(scene.owner)
    _write_paragraph(owner, "after the viewer")  # once stored, the viewer's was judged
    await _stored(scene, db_call, 1)
    assert await _inbox(scene, db_call, scene.editor) == []
    assert await _inbox(scene, db_call, scene.viewer) == []
    assert await _inbox(scene, db_call, scene.owner) == []


@pytest.mark.django_db
def test_only_a_stored_write_tells_and_a_failing_receiver_loses_no_edit() -> None:
    """``append_batch`` judges each author under the document's lock: the mentions of a write
    it refuses (its author lost the editor role after the room took it) tell nobody. A
    receiver that fails is undone (its savepoint); the update is stored all the same."""
    owner, editor, viewer = (make_user(username=n) for n in ("olivia", "ed", "vi"))
    document = make_document(owner=owner, title="Plan")
    share(document, editor, Role.EDITOR)
    share(document, viewer, Role.VIEWER)
    mention = Mention(username="olivia", text="@olivia look", paragraph="5:0")
    (appended,) = update_log.append_batch(
        [
            (
                document.id,
                [
                    PendingWrite(b"v", viewer.pk, (mention,)),
                    PendingWrite(b"e", editor.pk, (mention,)),
                ],
            )
        ]
    )
    assert appended is not None
    assert appended.refused == {viewer.pk}
    rows = Notification.objects.filter(user=owner)
    assert list(rows.values_list("type", "actor_id", "data", "dedupe_key")) == [
        (
            "mention",
            editor.pk,
            {"text": "@olivia look"},
            f"mention:{document.id}:{editor.pk}:5:0:{owner.pk}",
        )
    ]

    def fail(**_: Any) -> None:
        raise RuntimeError("the inbox is broken")

    elsewhere = Mention(username="olivia", text="@olivia again", paragraph="6:0")
    mentions_committed.connect(fail, dispatch_uid="test.fail")
    try:
        update_log.append_batch([(document.id, [PendingWrite(b"x", editor.pk, (elsewhere,))])])
    finally:
        mentions_committed.disconnect(dispatch_uid="test.fail")
    seqs = DocumentUpdate.objects.filter(document=document).values_list("seq", flat=True)
    assert list(seqs) == [1, 2], "the edit was lost to a failing receiver"
    assert rows.count() == 1, "a failed receiver's rows were kept"
