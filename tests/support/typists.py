"""Clients that type labelled paragraphs while servers fail under them, and know which of
their edits the server acknowledged: ``TrackedClient``, ``Typist`` (types at a steady rate and
reconnects to whichever replica is up) and ``converge`` (everyone and the database hold every
edit)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import websockets

from backend.collab.core import protocol
from tests.support.yclient import YClient


class TrackedClient(YClient):
    """A Yjs client that opts into acks and knows which of its labelled edits are durable.

    Every write message it sends after its hello is acknowledged in order. A local update
    carries one label; a sync step 2 carries every label typed so far (it holds whatever
    the server lacks), so its ack makes all of them durable. Reconnects reuse the object:
    the document (and unsent edits) survive, the per-connection bookkeeping restarts.
    """

    def __init__(self, url: str, *, doc: Any = None) -> None:
        super().__init__(url, doc=doc)
        self.typed: list[str] = []
        self.acked: set[str] = set()
        self._writes: list[tuple[str, ...]] = []
        self._folded = 0
        self._label: str | None = None
        self._applying_remote = False
        self.delivered: list[float] = []  # when each ack or update frame arrived
        self.closes: list[tuple[str, int | None]] = []  # (url, close code) per connection

    @property
    def close_history(self) -> list[int | None]:
        """The close code of each connection that ended (websockets: 1006 without a frame)."""
        return [code for _, code in self.closes]

    async def _handle(self, frame: bytes) -> None:
        if (frame[:1] == b"\x64" and frame[1:2] in (b"\x01", b"\x02")) or frame[:2] == b"\x00\x02":
            self.delivered.append(time.monotonic())
        await super()._handle(frame)

    @property
    def last_seq(self) -> int:
        """The highest sequence number this client has seen (update, ack and head frames):
        what the browser editor resumes from (docs/protocol.md)."""
        return max([self.head or 0, *self.seqs, *self.acks])

    async def reconnect(self, url: str | None = None, *, resume: bool = False) -> None:
        """Connect again (to ``url``), with a hello from 0, or, when ``resume``, from
        ``last_seq`` as the browser editor does."""
        since = self.last_seq if resume else 0
        self.fold_acks()
        self.closes.append((self.url, self.close_code))
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        self.url = url or self.url
        self._writes, self.acks, self._folded = [], [], 0
        await self.connect(hello=since)

    def cut_off(self) -> bool:
        return self._reader is None or self._reader.done()

    def awaiting_acks(self) -> int:
        """How many writes of this connection the server has not acknowledged yet."""
        return len(self._writes) - len(self.acks)

    def fold_acks(self) -> None:
        for index in range(self._folded, min(len(self.acks), len(self._writes))):
            self.acked.update(self._writes[index])
        self._folded = min(len(self.acks), len(self._writes))

    def type_paragraph(self, label: str) -> None:
        self.typed.append(label)
        self._label = label
        try:
            self.append_paragraph(label)
        finally:
            self._label = None

    def _apply_remote(self, apply: Callable[[], object]) -> object:
        # Remote changes are not echoed back: while they apply, the observer ignores them
        # (cheaper than YClient's unobserving and observing again around each).
        self._applying_remote = True
        try:
            return apply()
        finally:
            self._applying_remote = False

    def _on_local_change(self, event: Any) -> None:
        if self._applying_remote:
            return
        if self.ws is not None and event.update != protocol.EMPTY_UPDATE:
            frame = protocol.sync_update(event.update)
            labels = (self._label,) if self._label else ()
            ws = self.ws
            asyncio.get_running_loop().create_task(self._send_write(ws, frame, labels))

    async def _send_write(self, ws: Any, frame: bytes, labels: tuple[str, ...]) -> None:
        if ws is not self.ws:
            return  # typed while the previous connection was dying: the next sync carries it
        with contextlib.suppress(websockets.ConnectionClosed):
            self._writes.append(labels)
            await ws.send(frame)

    async def _send_quietly(self, frame: bytes) -> None:
        if frame[:2] == b"\x00\x01":  # our sync step 2: everything typed so far
            self._writes.append(tuple(self.typed))
        await super()._send_quietly(frame)

    def labels(self) -> set[str]:
        return set(self.text().split("\n")) - {""}


class Typist:
    """Types labelled paragraphs at a steady rate whatever the connection does, and keeps
    reconnecting (with a short backoff) to whichever server in ``servers`` is up."""

    def __init__(self, name: str, urls: Callable[[], list[str]]) -> None:
        self.name = name
        self.urls = urls
        self.client: TrackedClient | None = None
        self.reconnects = 0
        self._stop = False

    async def start(self) -> None:
        for url in self.urls():
            with contextlib.suppress(OSError, TimeoutError, websockets.InvalidHandshake):
                self.client = TrackedClient(url)
                await self.client.connect(hello=0)
                await asyncio.wait_for(self.client.synced.wait(), 10)
                return
        raise AssertionError(f"{self.name} could not connect")

    async def type(self, count: int, interval: float) -> None:
        assert self.client is not None
        keeper = asyncio.create_task(self._keep_connected())
        try:
            for i in range(count):
                self.client.type_paragraph(f"{self.name}-{i}")
                await asyncio.sleep(interval)
        finally:
            self._stop = True
            await keeper

    async def _keep_connected(self) -> None:
        backoff = 0.05
        while not self._stop:
            await asyncio.sleep(0.02)
            if await self.ensure_connected(attempts=1):
                backoff = 0.05
            else:
                await asyncio.sleep(backoff)
                backoff = min(0.5, backoff * 2)

    async def ensure_connected(self, attempts: int = 50) -> bool:
        assert self.client is not None
        for _ in range(attempts):
            if not self.client.cut_off():
                return True
            for url in self.urls():
                try:
                    await asyncio.wait_for(self.client.reconnect(url), 5)
                    await asyncio.wait_for(self.client.synced.wait(), 5)
                except (OSError, TimeoutError, websockets.InvalidHandshake):
                    continue
                if not self.client.cut_off():
                    self.reconnects += 1
                    return True
            if attempts > 1:
                await asyncio.sleep(0.2)
        return False


async def converge(
    typists: Sequence[Typist], stored_labels: Callable[[], Any], timeout: float = 60
) -> tuple[float, int, int, int]:
    """Reconnect everyone, wait until every client and the database hold every typed label.

    Returns (seconds, sent, acked, lost): lost counts acked labels missing from the
    database or from any client once converged (or at the timeout).
    """
    started = time.monotonic()
    clients = [t.client for t in typists if t.client is not None]
    typed = {label for c in clients for label in c.typed}
    stored: set[str] = set()
    deadline = started + timeout
    while True:
        for typist in typists:
            await typist.ensure_connected(attempts=1)
        held = [c.labels() for c in clients]
        if all(typed <= h for h in held):
            stored = await stored_labels()
            if typed <= stored:
                break
        if time.monotonic() > deadline:
            stored = await stored_labels()
            break
        await asyncio.sleep(0.1)
    seconds = time.monotonic() - started
    # Acks that arrived while converging count too.
    for client in clients:
        client.fold_acks()
    acked = {label for c in clients for label in c.acked}
    missing = set(acked - stored)
    for held_now in [c.labels() for c in clients]:
        missing |= acked - held_now
    assert typed <= stored, f"{len(typed - stored)} typed edits never reached the database"
    return seconds, len(typed), len(acked), len(missing)
