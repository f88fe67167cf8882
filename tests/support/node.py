"""The Node scripts of tests/collab/node: real y-websocket providers (``make test`` installs
their packages there), and a way to run one that answers with a line of JSON."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from tests.support.servers import ROOT

NODE_DIR = ROOT / "tests" / "collab" / "node"


async def run_script(script: str, env: dict[str, str], *, timeout: float) -> dict[str, Any]:
    """Run ``node script`` with ``env`` added to this process's environment; it must exit 0.
    Returns the JSON of its last line of output."""
    process = await asyncio.create_subprocess_exec(
        "node",
        script,
        cwd=NODE_DIR,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, stderr.decode()[-4000:]
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return result
