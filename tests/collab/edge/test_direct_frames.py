"""The direct frames of ``StallAbortingProtocol``, through a real uvicorn server and a raw
TCP client: the frames its writer writes, its queue while the transport is paused, its
bound, what a closed connection leaves behind, and the messages it hands to the app's
receiver.

Each test runs the server in an event loop of its own, asyncio's and uvloop's (Tandem's).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import socket
import struct
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvicorn
import uvloop
from websockets.frames import Close, Frame, Opcode

from backend.collab.core.close_codes import CloseCode
from backend.collab.edge.direct_frames import EXTENSION, FrameWriter, binary_frame_header
from backend.collab.edge.uvicorn_protocol import StallAbortingProtocol

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Script = Callable[[FrameWriter, Receive, Send], Awaitable[None]]

LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 200_000]


LoopFactory = Callable[[], asyncio.AbstractEventLoop]
Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Run a coroutine to the end in a new loop of the parametrised kind."""
    factory: LoopFactory = (
        uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop
    )

    def _run(coroutine: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(coroutine)

    return _run


@contextlib.asynccontextmanager
async def frame_server(
    script: Script,
    *,
    max_bytes: int,
    on_scope: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[int]:
    """uvicorn with ``StallAbortingProtocol`` on a free port, running ``script`` per socket
    (``on_scope``, if given, sees each socket's scope first)."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        if on_scope is not None:
            on_scope(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        writer = scope["extensions"][EXTENSION]["open"](max_bytes=max_bytes)
        await script(writer, receive, send)

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ws=StallAbortingProtocol,
        lifespan="off",
        log_level="warning",
        ws_ping_interval=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


class RawClient:
    """A WebSocket client on a plain socket that reads the server's frames byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, *, receive_buffer: int | None = None) -> RawClient:
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        # A small stream limit: the client stops taking bytes off the socket soon when unread.
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 101"), status
        while await reader.readline() != b"\r\n":
            pass
        return cls(reader, writer)

    async def read_raw(self, size: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(size), 10)

    async def read_frame(self) -> tuple[int, bytes]:
        first, second = await self.read_raw(2)
        assert second & 0x80 == 0, "server frames are not masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.read_raw(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.read_raw(8))
        return first & 0x0F, await self.read_raw(length)

    def send(self, *frames: Frame) -> None:
        """Write ``frames`` masked, as a client must, in one write."""
        self.writer.write(b"".join(f.serialize(mask=True, extensions=[]) for f in frames))

    async def close(self) -> None:
        """Answer (or start) the closing handshake, then wait for the server to hang up."""
        close = Frame(Opcode.CLOSE, Close(1000, "").serialize())
        self.writer.write(close.serialize(mask=True, extensions=[]))
        with contextlib.suppress(ConnectionError):
            rest = await asyncio.wait_for(self.reader.read(), 10)
            assert rest == b"" or rest[0] & 0x0F == Opcode.CLOSE, rest[:16]
        self.writer.close()


def _websockets_frame(payload: bytes) -> bytes:
    return Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[])


def _numbered(number: int, size: int) -> bytes:
    return number.to_bytes(4, "big") + bytes(size - 4)


def test_headers_match_websockets_encoder() -> None:
    for length in LENGTHS:
        expected = _websockets_frame(bytes(length))
        header = binary_frame_header(length)
        assert expected[: len(header)] == header, length
        assert len(expected) == len(header) + length, length
    assert binary_frame_header(2**32) == b"\x82\x7f" + (2**32).to_bytes(8, "big")


def test_frames_on_the_wire_match_uvicorns_websockets_frames(run: Run) -> None:
    """Each payload goes out twice, directly and as an ASGI ``websocket.send`` (encoded by
    websockets): the client gets the same bytes both times."""
    payloads = [bytes(i % 251 for i in range(length)) for length in LENGTHS]

    async def script(writer: FrameWriter, receive: Receive, send: Send) -> None:
        for payload in payloads:
            writer.put(payload)
            await send({"type": "websocket.send", "bytes": payload})
        assert (await receive())["type"] == "websocket.disconnect"

    async def scenario() -> None:
        async with frame_server(script, max_bytes=1 << 20) as port:
            client = await RawClient.connect(port)
            for payload in payloads:
                expected = _websockets_frame(payload)
                direct = await client.read_raw(len(expected))
                through_asgi = await client.read_raw(len(expected))
                assert direct == through_asgi == expected, len(payload)
            await client.close()

    run(scenario())


def test_a_paused_transport_queues_frames_and_flushes_them_in_order(run: Run) -> None:
    """A client that reads nothing for a while: the transport pauses, frames wait in the
    writer (under its bound), and once the client reads, every frame arrives, in order."""
    size = 16 * 1024
    seen: dict[str, int] = {}
    flushed: list[bool] = []

    async def script(writer: FrameWriter, receive: Receive, send: Send) -> None:
        count = 0
        while writer.queued_bytes < 8 * size:  # the transport paused and frames wait
            assert count < 4000, "the transport never paused"
            writer.put(_numbered(count, size))
            count += 1
            await asyncio.sleep(0)
        seen["count"], seen["queued"] = count, writer.queued_bytes
        flushed.append(True)
        assert (await receive())["type"] == "websocket.disconnect"
        seen["queued_at_end"] = writer.queued_bytes

    async def scenario() -> None:
        async with frame_server(script, max_bytes=1 << 30) as port:
            client = await RawClient.connect(port, receive_buffer=4096)
            for _ in range(3000):
                if flushed:
                    break
                await asyncio.sleep(0.01)
            assert flushed, "the server never got frames queued"
            await asyncio.sleep(0.2)  # the client keeps not reading: nothing moves meanwhile
            for number in range(seen["count"]):
                opcode, payload = await client.read_frame()
                assert (opcode, payload) == (Opcode.BINARY, _numbered(number, size))
            await client.close()

    run(scenario())
    assert seen["queued"] >= 8 * size
    assert seen["queued_at_end"] == 0


def test_a_reader_past_the_bound_is_closed_too_slow_and_gets_nothing_after(run: Run) -> None:
    """Over the bound the queue is dropped and the close frame (4408) goes out after what
    the transport already took; frames put later are not written."""
    size, bound = 16 * 1024, 64 * 1024
    result: dict[str, Any] = {}

    async def script(writer: FrameWriter, receive: Receive, send: Send) -> None:
        count = 0
        while not writer.closed:
            assert count < 4000, "the writer never reached its bound"
            writer.put(_numbered(count, size))
            count += 1
            await asyncio.sleep(0)
        result["count"], result["queued"] = count, writer.queued_bytes
        writer.put(_numbered(count, size))  # after the close: dropped
        result["disconnect"] = await receive()

    async def scenario() -> None:
        async with frame_server(script, max_bytes=bound) as port:
            client = await RawClient.connect(port, receive_buffer=4096)
            received = 0
            while True:
                opcode, payload = await client.read_frame()
                if opcode == Opcode.CLOSE:
                    break
                assert (opcode, payload) == (Opcode.BINARY, _numbered(received, size))
                received += 1
            assert Close.parse(payload).code == CloseCode.TOO_SLOW
            result["received"] = received
            await client.close()

    run(scenario())
    assert result["queued"] == 0
    assert result["disconnect"]["type"] == "websocket.disconnect"
    assert result["disconnect"]["code"] == CloseCode.TOO_SLOW
    # The frames the transport took came through; the bound's worth queued behind them and
    # the one that passed the bound were dropped (and the one put after the close).
    assert result["received"] == result["count"] - bound // size - 1


def test_a_closed_connection_is_freed_without_the_cycle_collector(run: Run) -> None:
    """With the collector off, the protocol and websockets' protocol of each closed
    connection are freed once the app returns: nothing of it waits for a full collection."""
    held: list[weakref.ref[Any]] = []

    def remember(scope: dict[str, Any]) -> None:
        protocol = scope["extensions"][EXTENSION]["open"].__self__
        held.extend((weakref.ref(protocol), weakref.ref(protocol.conn)))

    async def script(writer: FrameWriter, receive: Receive, send: Send) -> None:
        writer.put(b"hello")
        assert (await receive())["type"] == "websocket.disconnect"

    async def scenario() -> None:
        async with frame_server(script, max_bytes=1 << 20, on_scope=remember) as port:
            for _ in range(3):
                client = await RawClient.connect(port)
                assert await client.read_frame() == (Opcode.BINARY, b"hello")
                await client.close()
            for _ in range(200):
                if all(ref() is None for ref in held):
                    break
                await asyncio.sleep(0.01)

    gc.disable()
    try:
        run(scenario())
        alive = [type(ref()).__name__ for ref in held if ref() is not None]
    finally:
        gc.enable()
    assert len(held) == 6
    assert alive == []


def _binary(payload: bytes) -> Frame:
    return Frame(Opcode.BINARY, payload)


def test_binary_messages_reach_the_receiver_in_order_with_the_asgi_ones(run: Run) -> None:
    """A message queued before the app names its receiver, and a text message with the
    binary ones behind it, go through ASGI; every other binary message, a fragmented one
    too, goes to the receiver. The app sees all of them in the order they were sent."""
    seen: list[tuple[str, bytes | str]] = []
    protocols: list[StallAbortingProtocol] = []
    done = asyncio.Event()

    def remember(scope: dict[str, Any]) -> None:
        protocols.append(scope["extensions"][EXTENSION]["open"].__self__)

    async def script(writer: FrameWriter, receive: Receive, send: Send) -> None:
        for _ in range(1000):  # the first message waits in the ASGI queue
            if protocols[0].queue.qsize():
                break
            await asyncio.sleep(0.01)
        protocols[0].receive_frames_with(lambda frame: seen.append(("direct", frame)))
        while (message := await receive())["type"] == "websocket.receive":
            seen.append(("asgi", message.get("bytes") or message["text"]))
            writer.put(b"ok")
        done.set()

    async def scenario() -> None:
        async with frame_server(script, max_bytes=1 << 20, on_scope=remember) as port:
            client = await RawClient.connect(port)
            client.send(_binary(b"first"))
            assert await client.read_frame() == (Opcode.BINARY, b"ok")
            client.send(_binary(b"second"), _binary(b"third"))
            client.send(Frame(Opcode.TEXT, b"text"), _binary(b"behind the text"))
            assert await client.read_frame() == (Opcode.BINARY, b"ok")
            assert await client.read_frame() == (Opcode.BINARY, b"ok")
            client.send(Frame(Opcode.BINARY, b"frag", fin=False), Frame(Opcode.CONT, b"mented"))
            client.send(_binary(b"last"))
            for _ in range(1000):
                if len(seen) == 7:
                    break
                await asyncio.sleep(0.01)
            await client.close()
            await asyncio.wait_for(done.wait(), 10)

    run(scenario())
    assert seen == [
        ("asgi", b"first"),
        ("direct", b"second"),
        ("direct", b"third"),
        ("asgi", "text"),
        ("asgi", b"behind the text"),
        ("direct", b"fragmented"),
        ("direct", b"last"),
    ]


def test_a_receiver_that_raises_closes_the_connection_with_1011(run: Run) -> None:
    """The app's receiver fails on a message: the client gets close code 1011, the app
    hears the disconnect, and nothing after it reaches the receiver."""
    seen: list[bytes] = []
    result: dict[str, Any] = {}

    def receiver(frame: bytes) -> None:
        seen.append(frame)
        raise RuntimeError("the app failed")

    def remember(scope: dict[str, Any]) -> None:
        result["receive"] = scope["extensions"][EXTENSION]["receive"]

    async def script(writer: FrameWriter, receive: Receive, send: Send) -> None:
        result["receive"](receiver)
        writer.put(b"ready")
        result["disconnect"] = await receive()

    async def scenario() -> None:
        async with frame_server(script, max_bytes=1 << 20, on_scope=remember) as port:
            client = await RawClient.connect(port)
            assert await client.read_frame() == (Opcode.BINARY, b"ready")
            client.send(_binary(b"boom"), _binary(b"after"))
            opcode, payload = await client.read_frame()
            assert opcode == Opcode.CLOSE
            result["code"] = Close.parse(payload).code
            await client.close()

    run(scenario())
    assert result["code"] == 1011
    assert result["disconnect"]["type"] == "websocket.disconnect"
    assert seen == [b"boom"]
