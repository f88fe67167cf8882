"""Many ``TrackedClient``s spread over worker processes, driven from a test.

A thousand pycrdt clients in the test's own process spend more CPU applying what the server
sends them (every paragraph, once per client) than the server spends sending it: the test
would time its own process. ``ClientPool`` gives them worker processes (by default one per
core but one, which is left to the server), so a figure taken around them is not one
Python loop's, and the test's own process stays free to watch. Client ``k`` (0, 1, 2...)
lives in worker ``k % workers``; only the first ``typists`` clients type. Each call reaches
every worker at once and returns when all have answered; times are ``time.monotonic()``
(one clock for every process on Linux).

Run as ``python -m tests.support.client_pool``, a worker reads one JSON command a line on
stdin and answers each with one JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.typists import TrackedClient

ROOT = Path(__file__).resolve().parents[2]

CONNECT_BATCH = 50  # sockets a worker opens at once (then waits for them to sync)
POLL = 0.05  # how often a worker looks whether its clients hold what it waits for


@dataclass
class PoolReport:
    texts: set[str] = field(default_factory=set)  # the distinct texts the clients hold
    close_codes: set[int | None] = field(default_factory=set)
    typed: list[str] = field(default_factory=list)  # every label typed, by any client
    acked: set[str] = field(default_factory=set)  # the labels the server acknowledged


class ClientPool:
    def __init__(self, workers: int | None = None) -> None:
        # By default a core is left to the server: the clients must not starve it.
        self.workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self._procs: list[asyncio.subprocess.Process] = []

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs]

    async def __aenter__(self) -> ClientPool:
        for index in range(self.workers):
            self._procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.support.client_pool",
                    str(index),
                    str(self.workers),
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=2**26,
                )
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self._procs:
            if proc.returncode is None and proc.stdin is not None:
                proc.stdin.close()
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def _all(self, command: str, within: float, **args: Any) -> list[Any]:
        line = (json.dumps({"command": command, **args}) + "\n").encode()
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(line)

        async def answer(proc: asyncio.subprocess.Process) -> Any:
            assert proc.stdout is not None
            reply = await proc.stdout.readline()
            if not reply:
                raise AssertionError(f"client worker {proc.pid} exited during {command}")
            result = json.loads(reply)
            if "error" in result:
                raise AssertionError(f"client worker {proc.pid}, {command}: {result['error']}")
            return result["result"]

        return await asyncio.wait_for(asyncio.gather(*(answer(p) for p in self._procs)), within)

    async def connect(self, url: str, *, count: int, typists: int, timeout: float = 120) -> None:
        """Open ``count`` clients on ``url`` (hello from 0), each synced."""
        await self._all("connect", timeout, url=url, count=count, typists=typists)

    async def type(self, prefix: str) -> None:
        """Every typist types one paragraph, ``<prefix>-<k>``."""
        await self._all("type", 30, prefix=prefix)

    async def hold(self, paragraphs: int, timeout: float = 120) -> float:
        """When every client held ``paragraphs`` paragraphs."""
        return max(await self._all("hold", timeout + 5, paragraphs=paragraphs, timeout=timeout))

    async def reconnect(self, url: str, *, timeout: float = 120) -> float:
        """Reconnect every client to ``url``, resuming from the last sequence number it saw
        (as the browser editor does); returns when the last socket was open."""
        return max(await self._all("reconnect", timeout, url=url))

    async def synced(self, timeout: float = 120) -> float:
        """When the last client got its sync step 2."""
        return max(await self._all("synced", timeout + 5, timeout=timeout))

    async def acknowledged(self, timeout: float = 60) -> None:
        """Every write of every client acknowledged."""
        await self._all("acknowledged", timeout + 5, timeout=timeout)

    async def report(self) -> PoolReport:
        report = PoolReport()
        for part in await self._all("report", 60):
            report.texts.update(part["texts"])
            report.close_codes.update(part["close_codes"])
            report.typed += part["typed"]
            report.acked.update(part["acked"])
        return report

    async def close(self) -> None:
        await self._all("close", 60)


# --- the worker ---------------------------------------------------------------------------


class _Worker:
    def __init__(self, index: int, workers: int) -> None:
        self.index = index
        self.workers = workers
        self.clients: list[TrackedClient] = []
        self.typists: list[tuple[int, TrackedClient]] = []  # (client number, client)

    async def connect(self, url: str, count: int, typists: int) -> None:
        numbers = list(range(self.index, count, self.workers))
        for start in range(0, len(numbers), CONNECT_BATCH):
            batch = [(n, TrackedClient(url)) for n in numbers[start : start + CONNECT_BATCH]]
            await asyncio.gather(*(client.connect(hello=0) for _, client in batch))
            await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for _, c in batch)), 60)
            self.clients += [client for _, client in batch]
            self.typists += [(n, client) for n, client in batch if n < typists]

    async def type(self, prefix: str) -> None:
        for number, client in self.typists:
            client.type_paragraph(f"{prefix}-{number}")

    async def _until(self, predicate: Any, timeout: float, what: str) -> float:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
            await asyncio.sleep(POLL)
        return time.monotonic()

    async def hold(self, paragraphs: int, timeout: float) -> float:
        return await self._until(
            lambda: all(len(c.body.children) == paragraphs for c in self.clients),
            timeout,
            f"every client to hold {paragraphs} paragraphs",
        )

    async def reconnect(self, url: str) -> float:
        await asyncio.gather(*(c.reconnect(url, resume=True) for c in self.clients))
        return time.monotonic()

    async def synced(self, timeout: float) -> float:
        await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in self.clients)), timeout)
        return time.monotonic()

    async def acknowledged(self, timeout: float) -> float:
        return await self._until(
            lambda: all(c.awaiting_acks() <= 0 for c in self.clients),
            timeout,
            "every write to be acknowledged",
        )

    async def report(self) -> dict[str, Any]:
        for client in self.clients:
            client.fold_acks()
        return {
            "texts": sorted({c.text() for c in self.clients}),
            "close_codes": sorted({c.close_code for c in self.clients}, key=str),
            "typed": [label for c in self.clients for label in c.typed],
            "acked": sorted({label for c in self.clients for label in c.acked}),
        }

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients))


async def _serve(index: int, workers: int) -> None:
    worker = _Worker(index, workers)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        name = command.pop("command")
        try:
            reply: dict[str, Any] = {"result": await getattr(worker, name)(**command)}
        except Exception:
            reply = {"error": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2])))
