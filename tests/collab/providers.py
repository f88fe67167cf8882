"""Rooms of real y-websocket providers (tests/collab/node/room.mjs) driven from tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.factories import make_user, share, token_for

NODE_DIR = Path(__file__).parent / "node"


def room_members(document: Any, count: int, role: Any, *, prefix: str = "member") -> list[Any]:
    """``count`` new users sharing ``document`` with ``role`` (one account per provider)."""
    users = [make_user(username=f"{prefix}{i}") for i in range(count)]
    for user in users:
        share(document, user, role)
    return users


async def run_room(
    urls: Sequence[str],
    document_id: object,
    users: Sequence[Any],
    *,
    seconds: float,
    write_every_ms: int = 500,
    cursor_every_ms: int = 1000,
) -> dict[str, Any]:
    """Run room.mjs: one provider per user, spread over ``urls`` (``ws://.../ws/documents``);
    returns what it printed (see the script for the fields)."""
    config = {
        "urls": list(urls),
        "doc": str(document_id),
        "tokens": [token_for(user) for user in users],
        "names": [user.get_username() for user in users],
        "seconds": seconds,
        "writeEvery": write_every_ms,
        "cursorEvery": cursor_every_ms,
    }
    process = await asyncio.create_subprocess_exec(
        "node",
        "room.mjs",
        cwd=NODE_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(
        process.communicate(json.dumps(config).encode()), seconds + 180
    )
    assert process.returncode == 0, stderr.decode()[-4000:]
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result
