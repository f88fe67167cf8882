"""Rooms of real y-websocket providers (awareness on, as every editor has it) driven from
tests: tests/collab/node/room_part.mjs, step by step, split over several Node processes when
the room is large."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from pycrdt import Array

from backend.collab.api.selectors import document_state
from backend.collab.core.integration import state_vector
from backend.documents.models import Document
from tests.support.factories import make_user, share, token_for
from tests.support.node import NODE_DIR


def room_members(document: Any, count: int, role: Any, *, prefix: str = "member") -> list[Any]:
    """``count`` new users sharing ``document`` with ``role`` (one account per provider)."""
    users = [make_user(username=f"{prefix}{i}") for i in range(count)]
    for user in users:
        share(document, user, role)
    return users


# Providers per Node process: each provider applies every cursor of the room (and echoes
# them), so one event loop's work grows with (its providers x the room); at 75 per process a
# 100-provider room fell behind (writes 20 s late, pings unanswered: 1011), at 25 it kept up.
PER_PROCESS = 25


def percentile(values: Sequence[float], p: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else None


@dataclass
class Settled:
    """What the whole room saw once it settled (see ``ProviderRoom.settle``)."""

    providers: int
    written: int
    delivered: int
    lost: int
    p50_ms: float | None
    p99_ms: float | None
    closes: list[tuple[int, int]]  # (provider, close code)
    reconnects: int
    connected: int
    converged: bool
    seeing_everyone: int
    claimed_names_shown: int
    cursors_lost_while_present: int
    settle_seconds: float
    raw: list[dict[str, Any]] = field(repr=False, default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "raw"}


class ProviderRoom:
    """``users`` as real providers in one document, spread round-robin over ``urls``
    (``ws://.../ws/documents``), in ``ceil(len(users) / per_process)`` Node processes.

    Use as an async context manager: entering returns once every provider synced.
    ``failover``: a provider whose connection closes retries the next url (a load balancer
    sending it to a replica that is up). Node's stderr goes to ``log_dir/room-part-<n>.err``.
    """

    def __init__(
        self,
        urls: Sequence[str],
        document_id: object,
        users: Sequence[Any],
        *,
        log_dir: Path,
        write_every_ms: int = 500,
        cursor_every_ms: int = 1000,
        failover: bool = False,
        per_process: int = PER_PROCESS,
    ) -> None:
        self.urls = list(urls)
        self.document_id = str(document_id)
        self.users = list(users)
        self.log_dir = log_dir
        self.write_every_ms = write_every_ms
        self.cursor_every_ms = cursor_every_ms
        self.failover = failover
        self.per_process = per_process
        self.names = [user.get_username() for user in self.users]
        self.parts: list[asyncio.subprocess.Process] = []
        self._errors: list[Path] = []

    async def __aenter__(self) -> ProviderRoom:
        tokens = [token_for(user) for user in self.users]  # pure: no database access
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for first in range(0, len(tokens), self.per_process):
            error = self.log_dir / f"room-part-{len(self.parts)}.err"
            self._errors.append(error)
            with error.open("wb") as stderr:
                process = await asyncio.create_subprocess_exec(
                    "node",
                    "room_part.mjs",
                    cwd=NODE_DIR,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=stderr,
                    limit=64 * 1024 * 1024,  # settle answers carry every delivery's latency
                )
            self.parts.append(process)
            config = {
                "urls": self.urls,
                "doc": self.document_id,
                "tokens": tokens[first : first + self.per_process],
                "first": first,
                "names": self.names,
                "writeEvery": self.write_every_ms,
                "cursorEvery": self.cursor_every_ms,
                "failover": self.failover,
            }
            await self._send(process, json.dumps(config))
        synced = await self._gather(None, timeout=180)
        assert all(answer["synced"] for answer in synced), f"not every provider synced: {synced}"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in self.parts:
            with contextlib.suppress(ConnectionError):
                await self._send(process, "quit")
        for process in self.parts:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def _send(self, process: asyncio.subprocess.Process, line: str) -> None:
        assert process.stdin is not None
        process.stdin.write(line.encode() + b"\n")
        await process.stdin.drain()

    async def _answer(self, process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            index = self.parts.index(process)
            tail = self._errors[index].read_text(errors="replace")[-4000:]
            raise AssertionError(f"room part {index} exited ({process.returncode}): {tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def _gather(self, command: str | None, *, timeout: float) -> list[dict[str, Any]]:
        """Send ``command`` to every part (None: only read) and collect the answers."""
        if command is not None:
            for process in self.parts:
                await self._send(process, command)
        answers = asyncio.gather(*(self._answer(process) for process in self.parts))
        return await asyncio.wait_for(answers, timeout)

    async def start(self) -> None:
        """Cursors start moving (every ``cursor_every_ms``), provider 0 starts writing."""
        await self._gather("start", timeout=30)

    async def stop(self) -> int:
        """Provider 0 stops writing (cursors keep moving); returns how many it wrote."""
        return sum(answer["written"] for answer in await self._gather("stop", timeout=30))

    async def settle(
        self, written: int, *, vector: dict[int, int] | None = None, timeout: float = 60
    ) -> Settled:
        """Wait (up to ``timeout``) until every provider holds the ``written`` writes, sees
        every other provider and has the state vector ``vector`` (the database's; None: the
        same as the others), then collect the figures of the whole room."""
        command = f"settle {written} {int(timeout * 1000)}"
        if vector is not None:
            command += " " + json.dumps(
                {str(k): v for k, v in vector.items()}, separators=(",", ":")
            )
        answers = await self._gather(command, timeout=timeout + 30)
        latencies = [ms for answer in answers for ms in answer["latencies"]]
        readers = sum(answer["readers"] for answer in answers)
        vectors = {vector for answer in answers for vector in answer["vectors"]}
        return Settled(
            providers=len(self.users),
            written=written,
            delivered=len(latencies),
            lost=readers * written - len(latencies),
            p50_ms=percentile(latencies, 0.5),
            p99_ms=percentile(latencies, 0.99),
            closes=[(i, code) for answer in answers for i, code in answer["closes"]],
            reconnects=sum(answer["reconnects"] for answer in answers),
            connected=sum(answer["connected"] for answer in answers),
            converged=all(a["delivered"] and a["converged"] and a["logsEqual"] for a in answers)
            and len(vectors) == 1,
            seeing_everyone=sum(answer["seeingEveryone"] for answer in answers),
            claimed_names_shown=sum(answer["claimedNamesShown"] for answer in answers),
            cursors_lost_while_present=sum(answer["cursorsLostWhilePresent"] for answer in answers),
            settle_seconds=max(answer["settleSeconds"] for answer in answers),
            raw=answers,
        )

    async def leave(self, *, timeout: float = 15) -> dict[str, int | bool]:
        """The last provider leaves; returns whether everyone else lost its cursor, and only
        its cursor: ``leaverGone``, ``othersRemoved`` (should be 0) and
        ``stillSeeingEveryoneElse`` (should be every other provider)."""
        last = self.parts[-1]
        await self._send(last, "leave")
        leaver = await asyncio.wait_for(self._answer(last), 30)
        command = f"left {leaver['leaver']} {leaver['name']} {int(timeout * 1000)}"
        answers = await self._gather(command, timeout=timeout + 30)
        return {
            "leaverGone": all(answer["leaverGone"] for answer in answers),
            "othersRemoved": sum(answer["othersRemoved"] for answer in answers),
            "stillSeeingEveryoneElse": sum(answer["stillSeeingEveryoneElse"] for answer in answers),
        }


def assert_room_held(settled: Settled, after: dict[str, int | bool]) -> None:
    """What a room of providers must show once it ran and one left: no close, nothing lost,
    converged, everyone sees everyone under their account's name, no cursor vanished while
    its owner was there, and the leaver took only its own cursor with it."""
    summary = settled.summary()
    assert settled.closes == [], summary
    assert settled.lost == 0, summary
    assert settled.converged, summary  # to the state vector given to settle()
    assert settled.seeing_everyone == settled.providers, summary
    assert settled.claimed_names_shown == 0, summary
    assert settled.cursors_lost_while_present == 0, summary
    assert after["leaverGone"], after
    assert after["othersRemoved"] == 0, after
    assert after["stillSeeingEveryoneElse"] == settled.providers - 1, after


def _stored(document_id: str) -> tuple[int, dict[int, int]]:
    doc, _ = document_state(document=Document.objects.get(pk=document_id))
    connections.close_all()
    return len(doc.get("log", type=Array)), state_vector(doc.get_state())


async def stored_log(
    document_id: object, written: int, *, timeout: float = 30
) -> tuple[int, dict[int, int]]:
    """Wait (up to ``timeout``) until PostgreSQL holds the ``written`` writes of a room's
    provider 0; returns how many it holds and the stored document's state vector."""
    deadline = time.monotonic() + timeout
    while True:
        length, vector = await sync_to_async(_stored)(str(document_id))
        if length >= written or time.monotonic() > deadline:
            return length, vector
        await asyncio.sleep(0.2)
