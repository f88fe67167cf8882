"""Real third-party Yjs clients: y-websocket's WebsocketProvider in Node against a server."""

from __future__ import annotations

from tests.support.factories import token_for
from tests.support.node import run_script
from tests.support.scene import Scene


async def test_y_websocket_providers_co_edit_with_a_python_client(scene: Scene) -> None:
    python_client = await scene.client(scene.viewer)
    env = {
        "WS_URL": f"{scene.server.ws_url}/ws/documents",
        "DOC_ID": str(scene.document.id),
        "TOKEN_A": token_for(scene.owner),
        "TOKEN_B": token_for(scene.editor),
        "USER_A": scene.owner.username,
        "USER_B": scene.editor.username,
    }
    result = await run_script("coedit.mjs", env, timeout=60)
    assert result["a"] == result["b"]
    assert "from node A" in result["a"]
    assert "from node B" in result["a"]
    assert "editor" in result["seenByA"]  # the accounts' names, not the ones claimed
    assert "Node A" not in result["seenByB"]
    assert "owner" in result["seenByB"]
    await python_client.wait_for(lambda: len(python_client.body.children) == 2)
    assert sorted(python_client.text().split("\n")) == ["from node A", "from node B"]
