"""Clients of the live notification channels, as a browser or a script would open them.

``NotificationSocket``: ``ws/notifications/`` over ``websockets``, recording every JSON
message and the close code. ``EventStream``: ``/api/notifications/stream/`` over a raw
asyncio TCP connection (no SSE library), recording events, comments and the answer's status.
Both record the moment each notification arrived, for latency figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived: dict[int, float] = {}  # notification id -> time.perf_counter()
        self._changed = asyncio.Event()

    def record(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message.get("type") == "notification":
            self.arrived.setdefault(int(message["notification"]["id"]), time.perf_counter())
        self._changed.set()

    @property
    def ids(self) -> list[int]:
        """The ids of the notifications received, in arrival order (duplicates kept)."""
        return [
            int(m["notification"]["id"]) for m in self.messages if m.get("type") == "notification"
        ]

    @property
    def ready(self) -> dict[str, Any] | None:
        return next((m for m in self.messages if m.get("type") == "ready"), None)

    async def wait_for(self, predicate: Any, timeout: float = 10, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"gave up after {timeout} s waiting for {what or predicate}; "
                    f"got {self.messages[-5:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def wait_ids(self, *ids: int, timeout: float = 10) -> None:
        await self.wait_for(lambda: set(ids) <= set(self.ids), timeout, f"ids {ids}")


class NotificationSocket(_Recorder):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.ws: ClientConnection | None = None
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    async def connect(self, *, origin: str | None = None) -> NotificationSocket:
        self.ws = await websockets.connect(self.url, compression=None, origin=origin)  # type: ignore[arg-type]
        self._reader = asyncio.create_task(self._read(self.ws))
        return self

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self.record(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            self._closed.set()
            self._changed.set()

    async def closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.close_code

    @property
    def is_open(self) -> bool:
        return not self._closed.is_set()

    async def send(self, text: str) -> None:
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(text)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


class EventStream(_Recorder):
    """A raw HTTP/1.1 client of the SSE endpoint: events become messages
    ``{"type": <event>, "id": <id>, ...data}`` (notifications as the socket's)."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.port = port
        self.path = path
        self.headers = headers or {}
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self.body = b""  # the whole answer of a refusal
        self.comments: list[str] = []
        self.retry: int | None = None
        self.ended = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> EventStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer = writer
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Connection: close",  # a refusal's body then ends with the connection
        ]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await reader.readline()
        self.status = int(status_line.split()[1])
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            self.response_headers[name.strip().lower()] = value.strip()
        self._reader = asyncio.create_task(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        chunked = self.response_headers.get("transfer-encoding") == "chunked"
        buffer = b""
        try:
            while True:
                if chunked:
                    size = int((await reader.readline()).strip() or b"0", 16)
                    if size == 0:
                        break
                    chunk = await reader.readexactly(size + 2)
                    data = chunk[:-2]
                else:
                    data = await reader.read(65536)
                    if not data:
                        break
                if self.status != 200:
                    self.body += data
                    continue
                buffer += data
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    self._block(block.decode())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.ended.set()
            self._changed.set()

    def _block(self, block: str) -> None:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                self._changed.set()
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "retry" in fields:
            self.retry = int(fields["retry"])
        if "data" not in fields:
            return
        data = json.loads(fields["data"])
        event = fields.get("event", "message")
        if event == "notification":
            self.record({"type": "notification", "id": fields.get("id"), "notification": data})
        else:
            self.record({"type": event, "id": fields.get("id"), **data})

    async def json_body(self, timeout: float = 10) -> Any:
        await asyncio.wait_for(self.ended.wait(), timeout)
        return json.loads(self.body)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
