"""An in-memory update log and a fake connection: the room's ports, without a server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from pycrdt import Doc, Text

from backend.collab.core import protocol
from backend.collab.core.ports import (
    Appended,
    LoadedLog,
    PendingWrite,
    StoredUpdate,
    UpdateStore,
)
from backend.documents.errors import DocumentNotFound


class MemoryStore(UpdateStore):
    """The log in a dict. ``hold()`` makes appends wait until ``release()``; ``fail`` makes
    them raise; ``commit_elsewhere`` appends as another process would, telling no room;
    the writes of the users in ``refused`` are not stored (their role changed)."""

    def __init__(self) -> None:
        self.logs: dict[uuid.UUID, list[PendingWrite]] = {}
        self.snapshots: dict[uuid.UUID, tuple[int, bytes]] = {}
        self.fail: BaseException | None = None
        self.refused: set[int] = set()
        self._gate: asyncio.Event | None = None
        self.appending = asyncio.Event()  # set once an append is waiting at the gate

    def create(self) -> uuid.UUID:
        document_id = uuid.uuid4()
        self.logs[document_id] = []
        return document_id

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def commit_elsewhere(self, document_id: uuid.UUID, update: bytes) -> int:
        self._log(document_id).append(PendingWrite(update, None))
        return len(self.logs[document_id])

    def stored(self, document_id: uuid.UUID) -> list[bytes]:
        return [write.update for write in self._log(document_id)]

    def _log(self, document_id: uuid.UUID) -> list[PendingWrite]:
        if document_id not in self.logs:
            raise DocumentNotFound
        return self.logs[document_id]

    async def load(self, document_id: uuid.UUID) -> LoadedLog:
        seq, state = self.snapshots.get(document_id, (0, None))
        return LoadedLog(state, seq, await self.updates_after(document_id, seq))

    async def append(self, document_id: uuid.UUID, writes: Sequence[PendingWrite]) -> Appended:
        if self._gate is not None:
            self.appending.set()
            await self._gate.wait()
        if self.fail is not None:
            raise self.fail
        log = self._log(document_id)
        head = len(log)
        log.extend(w for w in writes if w.author_id not in self.refused)
        refused = {w.author_id for w in writes if w.author_id in self.refused}
        return Appended(head, frozenset(a for a in refused if a is not None))

    async def updates_after(
        self, document_id: uuid.UUID, seq: int, upto: int | None = None
    ) -> list[StoredUpdate]:
        log = self._log(document_id)
        end = len(log) if upto is None else min(upto, len(log))
        return [StoredUpdate(n, log[n - 1].update) for n in range(seq + 1, end + 1)]

    async def heads(self, document_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {d: len(self.logs[d]) for d in document_ids if d in self.logs}

    async def save_snapshot(self, document_id: uuid.UUID, seq: int, state: bytes) -> None:
        self.snapshots[document_id] = (seq, state)


@dataclass(eq=False)
class FakePeer:
    """A connection that records what the room sends it and how it was closed."""

    user_id: int | None = 1
    username: str = "ada"
    can_write: bool = True
    token_generation: int = 0
    admitted_at: float = 0.0
    frames: list[bytes] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close(self, code: int, reason: str = "") -> None:
        self.closed.append(code)

    def updates(self) -> list[bytes]:
        """The Yjs updates received as standard sync messages, in order."""
        updates = []
        for frame in self.frames:
            if frame[0] == protocol.MessageType.SYNC:
                message = protocol.parse(frame, max_awareness_state=1 << 20)
                if isinstance(message, protocol.SyncUpdate):
                    updates.append(message.update)
        return updates

    def tandem(self) -> list[tuple[str, int]]:
        """The Tandem frames received: ("ack" | "update" | "head", sequence number)."""
        return [(kind, seq) for kind, seq, _ in self._tandem_frames()]

    def numbered_updates(self) -> list[bytes]:
        """The updates received as Tandem's numbered updates, in order."""
        return [update for kind, _, update in self._tandem_frames() if kind == "update"]

    def _tandem_frames(self) -> list[tuple[str, int, bytes]]:
        names = {protocol.TandemType.ACK: "ack", protocol.TandemType.UPDATE: "update"}
        names[protocol.TandemType.HEAD] = "head"
        seen = []
        for frame in self.frames:
            reader = protocol.Reader(frame)
            if reader.var_uint() == protocol.MessageType.TANDEM:
                kind = names[protocol.TandemType(reader.var_uint())]
                seq = reader.var_uint()
                seen.append((kind, seq, reader.var_bytes() if kind == "update" else b""))
        return seen


class Typist:
    """A Yjs client typing into the text "t": each call returns the update it made."""

    def __init__(self) -> None:
        self.doc: Doc = Doc()
        self.text = self.doc.get("t", type=Text)

    def type(self, chars: str) -> bytes:
        before = self.doc.get_state()
        self.text += chars
        return self.doc.get_update(before)


def text_of(updates: Sequence[bytes]) -> str:
    """What the text "t" holds once ``updates`` are applied, in order, to a fresh Doc."""
    doc: Doc = Doc()
    text = doc.get("t", type=Text)
    for update in updates:
        doc.apply_update(update)
    return str(text)
