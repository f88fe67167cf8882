"""Server-side edits keep the content exact, with Yjs as the judge (issue 16).

A real y-websocket client writes rich text; the version view and the content read must show
what Yjs holds; a restore must give every client back exactly what Yjs held at that version;
a REST write must reach Yjs as the text written. Characters outside the Basic Multilingual
Plane, ZWJ sequences, combining marks and right-to-left text next to marks are the cases that
break when a text position is counted in the wrong unit (docs/architecture.md, "Server-side
edits").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from backend.documents.models import Document, Role
from tests.support.factories import make_document, share, token_for
from tests.support.node import run_script
from tests.support.rest import api
from tests.support.scene import Scene

# A ZWJ sequence (woman, ZWJ, laptop) and a rocket: 4 code points, 7 UTF-16 units, 15 bytes.
EMOJI = "👩‍💻🚀"
# Fraktur letters on purpose: astral, yet letters.
ISSUE_16 = f"Emoji {EMOJI} and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, 漢字かな, é café"  # noqa: RUF001
VOID = {"horizontalRule", "hardBreak", "image"}
Tree = list[dict[str, Any]]


async def _node(scene: Scene, mode: str, ids: list[str], **env: str) -> dict[str, Any]:
    """Run rich_text.mjs as the owner (watched by the editor): {id: {tree, xml}}."""
    result = await run_script(
        "rich_text.mjs",
        {
            "WS_URL": f"{scene.server.ws_url}/ws/documents",
            "DOC_IDS": ",".join(ids),
            "TOKEN": token_for(scene.owner),
            "WATCH_TOKEN": token_for(scene.editor),
            "MODE": mode,
            **env,
        },
        timeout=90,
    )
    docs: dict[str, Any] = result["docs"]
    return docs


async def _read(scene: Scene, expected: dict[str, Tree], tmp_path: Path) -> dict[str, Any]:
    """What fresh Yjs clients hold (they wait up to 5 s for ``expected``, then report)."""
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(expected))
    return await _node(scene, "read", list(expected), EXPECT_FILE=str(path))


def _lines(tree: Tree) -> list[str]:
    """The body as the content API's text: one line per text block, from Yjs's tree."""
    lines: list[str] = []
    for node in tree:
        if "delta" in node:
            lines.append(_plain(node))
            continue
        children = node["children"]
        if any("tag" in child and child["tag"] != "hardBreak" for child in children):
            lines.extend(_lines(children))
        elif node["tag"] not in VOID:
            lines.append("".join(_plain(c) if "delta" in c else "\n" for c in children))
    return lines


def _plain(text: dict[str, Any]) -> str:
    return "".join(op["insert"] for op in text["delta"])


def _paragraphs(text: str) -> Tree:
    """The tree a REST write of ``text`` must give: one paragraph per line."""
    return [
        {
            "tag": "paragraph",
            "attrs": {},
            "children": [{"delta": [{"insert": line}]}] if line else [],
        }
        for line in text.split("\n")
    ]


async def _documents(scene: Scene, count: int) -> list[str]:
    def make() -> list[str]:
        ids = []
        for _ in range(count):
            document: Document = make_document(owner=scene.owner)
            share(document, scene.editor, Role.EDITOR)
            ids.append(str(document.id))
        return ids

    return await sync_to_async(make)()


async def test_a_restore_keeps_bold_emoji_exact(scene: Scene, tmp_path: Path) -> None:
    """The issue's paragraph: every client got "Emoji 👩 and …, é café‍💻🚀", bold split."""
    doc_id = str(scene.document.id)
    owner = token_for(scene.owner)
    url = f"/api/documents/{doc_id}"
    written = (await _node(scene, "write", [doc_id], CONTENT="emoji"))[doc_id]
    assert written["tree"] == [
        {
            "tag": "paragraph",
            "attrs": {},
            "children": [
                {
                    "delta": [
                        {"insert": "Emoji "},
                        {"insert": EMOJI, "attributes": {"bold": {}}},
                        {"insert": ISSUE_16.removeprefix(f"Emoji {EMOJI}")},
                    ]
                }
            ],
        }
    ]
    version = api(scene.server, "GET", f"{url}/content/", token=owner)
    assert version["text"] == ISSUE_16
    assert api(scene.server, "GET", f"{url}/versions/{version['seq']}/", token=owner) == version

    api(scene.server, "PUT", f"{url}/content/", {"text": "Something else"}, owner)
    restored = api(scene.server, "POST", f"{url}/restore/", {"seq": version["seq"]}, owner)

    read = (await _read(scene, {doc_id: written["tree"]}, tmp_path))[doc_id]
    assert read["tree"] == written["tree"]
    assert read["xml"] == written["xml"]
    assert restored["text"] == ISSUE_16


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_rich_text_survives_the_version_view_a_restore_and_a_write(
    scene: Scene, tmp_path: Path, seed: int
) -> None:
    """Ten documents of random blocks per seed, written, formatted and edited by Yjs."""
    ids = await _documents(scene, 10)
    owner = token_for(scene.owner)
    written = await _node(scene, "write", ids, CONTENT="random", SEED=str(seed))

    versions: dict[str, int] = {}
    texts: dict[str, str] = {}
    for doc_id in ids:
        url = f"/api/documents/{doc_id}"
        texts[doc_id] = "\n".join(_lines(written[doc_id]["tree"]))
        current = api(scene.server, "GET", f"{url}/content/", token=owner)
        assert current["text"] == texts[doc_id], (seed, doc_id, written[doc_id]["xml"])
        version = api(scene.server, "GET", f"{url}/versions/{current['seq']}/", token=owner)
        assert version == current
        versions[doc_id] = current["seq"]
        # The same characters, written back over REST as plain text.
        api(scene.server, "PUT", f"{url}/content/", {"text": texts[doc_id]}, owner)

    expected = {doc_id: _paragraphs(texts[doc_id]) for doc_id in ids}
    after_write = await _read(scene, expected, tmp_path)
    for doc_id in ids:
        assert after_write[doc_id]["tree"] == expected[doc_id], (seed, doc_id)
        assert "\n".join(_lines(after_write[doc_id]["tree"])) == texts[doc_id]

    for doc_id in ids:
        url = f"/api/documents/{doc_id}"
        api(scene.server, "POST", f"{url}/restore/", {"seq": versions[doc_id]}, owner)
    after_restore = await _read(scene, {i: written[i]["tree"] for i in ids}, tmp_path)
    for doc_id in ids:
        assert after_restore[doc_id]["tree"] == written[doc_id]["tree"], (seed, doc_id)
        assert after_restore[doc_id]["xml"] == written[doc_id]["xml"]
