"""Real document sizes: megabyte pastes and long offline stretches from real providers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pycrdt import XmlFragment

from backend.collab.api.selectors import document_state
from tests.support.factories import token_for
from tests.support.node import run_script
from tests.support.scene import Scene
from tests.support.servers import TandemProcess

CAP = 1_000_000  # DOCUMENT_MAX_BYTES of the refusal test's server
# Megabytes through Node, the server and PostgreSQL: paste.mjs itself gives up after 240 s.
pytestmark = pytest.mark.timeout(300)


async def _paste(
    scene: Scene, mode: str, megabytes: float, *, reader: TandemProcess | None = None
) -> dict[str, Any]:
    """Run paste.mjs: the owner's provider changes, the editor's (on ``reader``) watches."""
    env = {
        "WS_URL": f"{scene.server.ws_url}/ws/documents",
        "WS_URL_B": f"{(reader or scene.server).ws_url}/ws/documents",
        "DOC_ID": str(scene.document.id),
        "TOKEN_A": token_for(scene.owner),
        "TOKEN_B": token_for(scene.editor),
        "MODE": mode,
        "MEGABYTES": str(megabytes),
    }
    result = await run_script("paste.mjs", env, timeout=300)
    print(json.dumps(result))  # the figures, for the record (pytest -s)
    return result


async def _stored_paragraphs(scene: Scene) -> int:
    doc, _ = await sync_to_async(document_state)(document=scene.document)
    return len(list(doc.get("default", type=XmlFragment).children))


@pytest.mark.parametrize("megabytes", [1.5, 20])
async def test_a_large_paste_reaches_another_client_and_postgres(
    scene: Scene, megabytes: float
) -> None:
    paragraphs = round(megabytes * 1000)
    result = await _paste(scene, "paste", megabytes)
    assert (result["a"], result["b"]) == (paragraphs, paragraphs)
    assert result["lastAtB"].startswith(f"<paragraph>p{paragraphs - 1}:")
    assert result["closesA"] == result["closesB"] == []
    assert await _stored_paragraphs(scene) == paragraphs


async def test_a_large_paste_crosses_replicas_through_the_log(
    scene: Scene, second: TandemProcess
) -> None:
    """Over 256 KiB an update crosses the channel layer as a hint; the other replica
    reads it from PostgreSQL."""
    result = await _paste(scene, "paste", 1.5, reader=second)
    assert (result["a"], result["b"]) == (1500, 1500)
    assert result["closesA"] == result["closesB"] == []


async def test_five_megabytes_of_offline_edits_are_stored_on_reconnect(scene: Scene) -> None:
    result = await _paste(scene, "offline", 5)
    assert (result["a"], result["b"]) == (5000, 5000)
    assert result["closesA"] == result["closesB"] == []
    assert await _stored_paragraphs(scene) == 5000


class TestOverTheCap:
    @pytest.fixture
    def server_overrides(self) -> dict[str, str]:
        return {"DOCUMENT_MAX_BYTES": str(CAP)}

    async def test_a_paste_past_the_document_cap_is_refused_with_4413(self, scene: Scene) -> None:
        result = await _paste(scene, "refused", 1.5)
        assert result["closesA"]
        assert set(result["closesA"]) == {4413}
        assert result["reasonsA"][0] == f"document size limit of {CAP} bytes"
        assert result["closesB"] == []  # the others keep editing
        assert result["b"] == 0
        assert await _stored_paragraphs(scene) == 0
        other = await scene.client(scene.editor, hello=0)
        other.append_paragraph("small edits still save")
        await other.wait_for(lambda: max(other.acks, default=0) >= 1)  # committed
        assert await _stored_paragraphs(scene) == 1
