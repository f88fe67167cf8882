"""The ``hello`` replay of a far-behind client: one update at the head, not a frame per row.

Through the public WebSocket API. The resumed client drops the server's sync step 2 (which
would bring its Doc up to date by itself), so only the replay can make it converge.
"""

from __future__ import annotations

from typing import Any

from backend.collab.core import protocol
from backend.collab.core.integration import REPLAY_JOIN_AFTER
from backend.collab.models import DocumentUpdate
from backend.documents.models import Document
from tests.support.scene import Scene
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient


class ReplayOnly(YClient):
    """A Tandem-aware client that ignores sync step 2 and counts the replay's bytes."""

    def __init__(self, url: str, *, doc: Any = None) -> None:
        super().__init__(url, doc=doc)
        self.replay_bytes = 0
        self.step2_bytes = 0

    async def _handle(self, frame: bytes) -> None:
        kind, subtype = frame[0], frame[1]  # both below 128: one byte each
        if kind == protocol.MessageType.SYNC and subtype == 1:
            self.step2_bytes += len(frame)
            self.synced.set()
            return
        if kind == protocol.MessageType.TANDEM and subtype == protocol.TandemType.UPDATE:
            self.replay_bytes += len(frame)
        await super()._handle(frame)


async def _typed(scene: Scene, db_call: Any, writer: YClient, count: int) -> int:
    """``writer`` types ``count`` characters at the end of the first paragraph, one update
    each; the head once all are stored."""
    for _ in range(count):
        writer.type_into(0, len(writer.text()), "x")
    head = await db_call(lambda: Document.objects.get(pk=scene.document.pk).head_seq)

    async def stored() -> bool:
        nonlocal head
        head = await db_call(lambda: Document.objects.get(pk=scene.document.pk).head_seq)
        return bool(head >= count + 1)

    await wait_until_async(stored, what="the typed updates to be stored")
    return int(head)


def _row_by_row_bytes(document: Document, since: int) -> int:
    rows = DocumentUpdate.objects.filter(document=document, seq__gt=since).order_by("seq")
    return sum(
        len(protocol.tandem_update(s, bytes(u))) for s, u in rows.values_list("seq", "update")
    )


async def _resume(scene: Scene, doc: Any, since: int) -> ReplayOnly:
    client = ReplayOnly(scene.url(scene.editor), doc=doc)
    scene.clients.append(client)
    await client.connect(hello=since)
    return client


async def _left_behind(scene: Scene) -> tuple[YClient, YClient, int]:
    """A writer, and a follower that saw its first paragraph and left: (writer, follower,
    the follower's last seq)."""
    writer = await scene.client(scene.owner)
    writer.append_paragraph("start ")
    follower = await scene.client(scene.editor, hello=0)
    await follower.wait_text("start ")
    since = max(follower.seqs)
    await follower.close()
    return writer, follower, since


async def test_a_far_behind_client_gets_one_update_and_converges(scene: Scene, db_call) -> None:
    writer, follower, since = await _left_behind(scene)
    head = await _typed(scene, db_call, writer, 300)

    resumed = await _resume(scene, follower.doc, since)
    await resumed.wait_for(lambda: resumed.head == head)
    assert resumed.seqs == [head], "not replayed as one update at the head"
    assert resumed.text() == writer.text()
    assert writer.text().endswith("x" * 300)
    row_by_row = await db_call(_row_by_row_bytes, scene.document, since)
    assert resumed.replay_bytes < row_by_row / 4, (resumed.replay_bytes, row_by_row)
    assert resumed.replay_bytes <= resumed.step2_bytes + 16, (
        resumed.replay_bytes,
        resumed.step2_bytes,
    )


async def test_a_client_few_rows_behind_gets_them_row_by_row(scene: Scene, db_call) -> None:
    writer, follower, since = await _left_behind(scene)
    head = await _typed(scene, db_call, writer, REPLAY_JOIN_AFTER)

    resumed = await _resume(scene, follower.doc, since)
    await resumed.wait_for(lambda: resumed.head == head)
    assert resumed.seqs == list(range(since + 1, head + 1))
    assert resumed.text() == writer.text()


async def test_a_client_holding_nothing_gets_the_whole_state_at_the_head(
    scene: Scene, db_call
) -> None:
    writer = await scene.client(scene.owner)
    writer.append_paragraph("start ")
    head = await _typed(scene, db_call, writer, 5)  # few rows: from 0, still one update

    fresh = await _resume(scene, None, 0)
    await fresh.wait_for(lambda: fresh.head == head)
    assert fresh.seqs == [head], "a client at 0 was replayed row by row"
    assert fresh.text() == writer.text()
