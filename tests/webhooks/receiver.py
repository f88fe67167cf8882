"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every POST, answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the body was read
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Answer:
    status: int = 200
    delay: float = 0.0  # seconds before answering
    body: bytes = b"ok"
    stream_bytes: int = 0  # instead of ``body``: this many bytes, written in 64 KiB chunks


@dataclass
class Receiver:
    """``answer`` decides each response from the number of the request (1, 2, ...)."""

    answer: Callable[[int], Answer] = lambda n: Answer()
    received: list[Received] = field(default_factory=list)
    port: int = 0
    streamed: list[int] = field(default_factory=list)  # bytes actually written, per stream
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.received]


@contextmanager
def running_receiver(answer: Callable[[int], Answer] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(answer=answer or (lambda n: Answer()))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                return  # the sender died mid-body: nothing was received
            with receiver.lock:
                receiver.received.append(Received(time.time(), dict(self.headers), body))
                number = len(receiver.received)
            reply = receiver.answer(number)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                if reply.stream_bytes:
                    self.send_header("Content-Length", str(reply.stream_bytes))
                    self.end_headers()
                    written, chunk = 0, b"x" * 65536
                    try:
                        while written < reply.stream_bytes:
                            self.wfile.write(chunk)
                            written += len(chunk)
                    finally:
                        receiver.streamed.append(written)
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
            except OSError:
                pass  # the sender hung up (a timeout, a bounded read): what the test checks

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # a whole batch connects at once (the default backlog is 5)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
