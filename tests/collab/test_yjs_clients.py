"""Real third-party Yjs clients: y-websocket's WebsocketProvider in Node against a server."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from tests.support.factories import token_for
from tests.support.scene import Scene

NODE_DIR = Path(__file__).parent / "node"


async def test_y_websocket_providers_co_edit_with_a_python_client(scene: Scene) -> None:
    python_client = await scene.client(scene.viewer)
    env = {
        **os.environ,
        "WS_URL": f"{scene.server.ws_url}/ws/documents",
        "DOC_ID": str(scene.document.id),
        "TOKEN_A": token_for(scene.owner),
        "TOKEN_B": token_for(scene.editor),
        "USER_A": scene.owner.username,
        "USER_B": scene.editor.username,
    }
    process = await asyncio.create_subprocess_exec(
        "node",
        "coedit.mjs",
        cwd=NODE_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["a"] == result["b"]
    assert "from node A" in result["a"]
    assert "from node B" in result["a"]
    assert "editor" in result["seenByA"]  # the accounts' names, not the ones claimed
    assert "Node A" not in result["seenByB"]
    assert "owner" in result["seenByB"]
    await python_client.wait_for(lambda: len(python_client.body.children) == 2)
    assert sorted(python_client.text().split("\n")) == ["from node A", "from node B"]
