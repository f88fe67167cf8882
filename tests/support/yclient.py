"""A real Yjs client for tests: pycrdt Doc + the y-websocket protocol over ``websockets``.

It behaves like y-websocket's provider: answers the server's sync step 1, sends its own,
sends every local change as an update and applies what it receives. With ``hello`` it opts
into Tandem's extension and records sequence numbers and acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import Callable
from typing import Any

import websockets
from pycrdt import Doc, XmlElement, XmlFragment, XmlText, handle_sync_message
from websockets.asyncio.client import ClientConnection

from backend.collab.core import protocol
from backend.collab.core.integration import integrate
from backend.collab.core.protocol import AwarenessEntry, Reader

# Parts of updates each client Doc cannot integrate yet (see YClient._integrate).
_WAITING: weakref.WeakKeyDictionary[Doc[Any], list[bytes]] = weakref.WeakKeyDictionary()


class YClient:
    def __init__(self, url: str, *, doc: Doc[Any] | None = None) -> None:
        self.url = url
        self.doc: Doc[Any] = doc or Doc()
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        self.close_code: int | None = None
        self.denied: list[str] = []
        self.awareness: dict[int, Any] = {}
        self.acks: list[int] = []
        self.seqs: list[int] = []
        self.head: int | None = None
        self.received_frames = 0
        self._reader: asyncio.Task[None] | None = None
        self._subscription: Any = None
        self._changed = asyncio.Event()

    # --- connection ----------------------------------------------------------------------

    async def connect(self, *, hello: int | None = None, origin: str | None = None) -> YClient:
        self.ws = await websockets.connect(
            self.url,
            compression=None,
            origin=origin,
            max_size=None,  # type: ignore[arg-type]
        )
        self.synced.clear()
        self.close_code = None
        if hello is not None:
            await self._send_quietly(protocol.hello(hello))
        await self._send_quietly(protocol.sync_step1(self.doc.get_state()))
        self._subscription = self.doc.observe(self._on_local_change)
        self._reader = asyncio.create_task(self._read())
        return self

    async def close(self) -> None:
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def drop(self) -> None:
        """Vanish without a close handshake (like a laptop lid closing)."""
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None
        if self.ws is not None:
            self.ws.transport.abort()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def closed(self, timeout: float = 10) -> int | None:
        """Wait for the server to close the connection; returns the close code."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def send_raw(self, frame: bytes | str) -> None:
        assert self.ws is not None
        await self.ws.send(frame)

    # --- editing -------------------------------------------------------------------------

    @property
    def body(self) -> XmlFragment:
        return self.doc.get("default", type=XmlFragment)

    def append_paragraph(self, text: str) -> None:
        with self.doc.transaction():
            paragraph = self.body.children.append(XmlElement("paragraph"))
            paragraph.children.append(XmlText(text))

    def type_into(self, block: int, position: int, text: str) -> None:
        paragraph = self.body.children[block]
        xml_text = paragraph.children[0]
        xml_text.insert(position, text)

    def text(self) -> str:
        return "\n".join(
            "".join(str(child) for child in block.children)
            if isinstance(block, XmlElement)
            else str(block)
            for block in self.body.children
        )

    async def set_awareness(self, client_id: int, clock: int, state: Any) -> None:
        entry = AwarenessEntry(client_id=client_id, clock=clock, state_json=json.dumps(state))
        await self.send_raw(protocol.awareness([entry]))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        async def _until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_until(), timeout)

    async def wait_text(self, expected: str, timeout: float = 10) -> None:
        try:
            await self.wait_for(lambda: self.text() == expected, timeout)
        except TimeoutError:
            raise AssertionError(f"text is {self.text()!r}, expected {expected!r}") from None

    # --- protocol ------------------------------------------------------------------------

    def _on_local_change(self, event: Any) -> None:
        if self.ws is not None and event.update != protocol.EMPTY_UPDATE:
            frame = protocol.sync_update(event.update)
            asyncio.get_running_loop().create_task(self._send_quietly(frame))

    async def _send_quietly(self, frame: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            assert self.ws is not None
            await self.ws.send(frame)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                assert isinstance(frame, bytes), "the server sends binary frames only"
                self.received_frames += 1
                await self._handle(frame)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
            self._changed.set()

    async def _handle(self, frame: bytes) -> None:
        reader = Reader(frame)
        kind = reader.var_uint()
        if kind == protocol.MessageType.SYNC:
            message = protocol.parse(frame, max_awareness_state=10**9)
            if isinstance(message, protocol.SyncUpdate):
                self._apply_remote(lambda: self._integrate(message.update))
            else:
                reply = self._apply_remote(lambda: handle_sync_message(frame[1:], self.doc))
                if isinstance(reply, bytes):  # the answer to the server's step 1
                    await self._send_quietly(reply)
            if frame[1] == 1:
                self.synced.set()
        elif kind == protocol.MessageType.AWARENESS:
            parsed = protocol.parse(frame, max_awareness_state=10**9)
            assert isinstance(parsed, protocol.AwarenessUpdate)
            for entry in parsed.entries:
                if entry.removed:
                    self.awareness.pop(entry.client_id, None)
                else:
                    self.awareness[entry.client_id] = json.loads(entry.state_json)
        elif kind == protocol.MessageType.AUTH:
            reader.var_uint()
            self.denied.append(reader.var_string())
        elif kind == protocol.MessageType.TANDEM:
            subtype = reader.var_uint()
            seq = reader.var_uint()
            if subtype == protocol.TandemType.ACK:
                self.acks.append(seq)
            elif subtype == protocol.TandemType.UPDATE:
                update = reader.var_bytes()
                self.seqs.append(seq)
                self._apply_remote(lambda: self._integrate(update))
            elif subtype == protocol.TandemType.HEAD:
                self.head = seq

    def _integrate(self, update: bytes) -> None:
        """Apply a remote update as the server does (``backend.collab.core.integration``): what
        cannot be integrated yet waits beside the Doc, so a client reconnecting with the
        same Doc keeps it too."""
        _, _WAITING[self.doc] = integrate(self.doc, update, _WAITING.get(self.doc, []))

    def _apply_remote(self, apply: Callable[[], object]) -> object:
        # Remote changes must not be echoed back as local updates.
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
        try:
            return apply()
        finally:
            if self._subscription is not None:
                self._subscription = self.doc.observe(self._on_local_change)
