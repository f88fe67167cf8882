"""The servers under test: how each is started, health-checked, restarted and stopped.

Tandem runs as ``python -m backend.serve``; the reference servers' own scripts are in
bench/servers/ (and bench/bare_relay.py, bench/experiments/)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field

from .config import (
    BENCH_PASSWORD,
    BENCH_PY,
    BENCH_USER,
    DATABASE_URL,
    LOGS,
    METRICS_TOKEN,
    NODE_BIN,
    PROJECT_PY,
    REDIS_URL,
    ROOT,
    TANDEM_ENV,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@dataclass
class Server:
    """One server under test: one or more processes, their ws bases, and the client style."""

    name: str
    label: str
    style: str  # load.mjs framing: 'tandem', 'path' or 'hocuspocus'
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)
    durable: bool = False
    catchup: bool = True  # False: a floor for targets other than catch-up's, left out of it
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def bases(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        for i, template in enumerate(self.commands):
            port = free_port()
            command = [part.replace("{port}", str(port)) for part in template]
            env = {**os.environ, **self.env, "PORT": str(port), "HOST": "127.0.0.1"}
            log = open(LOGS / f"{self.name}-{i}.log", "ab")  # noqa: SIM115
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            self.procs.append(proc)
            self.ports.append(port)
        for proc, port in zip(self.procs, self.ports, strict=True):
            wait_for_port(port, proc)
        if self.style == "tandem":
            for port in self.ports:
                wait_http(f"http://127.0.0.1:{port}/healthz")

    def ensure_running(self) -> bool:
        """Restart the server if a process died (recorded as a crash); True if it did."""
        if all(p.poll() is None for p in self.procs):
            return False
        self.stop()
        self.start()
        if self.style == "tandem":
            TOKENS[self.name] = fetch_token(self)
        return True

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs, self.ports = [], []


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def make_servers(selected: set[str] | None) -> list[Server]:
    tandem = [str(PROJECT_PY), "-m", "backend.serve"]
    bare = [str(PROJECT_PY), "bench/bare_relay.py", "--port", "{port}"]
    bare_durable_2r = [*bare, "--durable", DATABASE_URL, "--redis", REDIS_URL]
    servers = [
        Server("tandem", "Tandem (1 process)", "tandem", [tandem], TANDEM_ENV, durable=True),
        Server(
            "tandem-2r", "Tandem (2 replicas)", "tandem", [tandem, tandem], TANDEM_ENV, durable=True
        ),
        Server(
            "y-websocket",
            "y-websocket 1.5.4",
            "path",
            [[NODE_BIN, "bench/node_modules/y-websocket/bin/server.js"]],
        ),
        Server(
            "hocuspocus",
            "Hocuspocus 3.4.4",
            "hocuspocus",
            [[NODE_BIN, "bench/servers/hocuspocus.mjs", "{port}"]],
        ),
        Server(
            "pycrdt-websocket",
            "pycrdt-websocket 0.16.5",
            "path",
            [[str(BENCH_PY), "bench/servers/pycrdt_websocket_server.py", "{port}"]],
        ),
        Server(
            "bare-relay",
            "bare relay (pycrdt+websockets)",
            "path",
            [bare],
        ),
        Server(
            "bare-durable",
            "bare relay + PostgreSQL group commit",
            "path",
            [[*bare, "--durable", DATABASE_URL]],
            durable=True,
        ),
        Server(
            "bare-durable-2r",
            "bare relay + PostgreSQL, 2 processes over Redis",
            "path",
            [bare_durable_2r, bare_durable_2r],
            durable=True,
            catchup=False,
        ),
    ]
    # Experiments (bench/experiments/tandem_patched.py): run only when named in --servers.
    patched = [str(PROJECT_PY), "bench/experiments/tandem_patched.py"]
    experiments = [
        Server(
            "tandem-stages",
            "Tandem, each update's stages timed",
            "tandem",
            [[*patched, "--stages"]],
            {**TANDEM_ENV, "TANDEM_STAGES_FILE": str(LOGS / "tandem-stages.json")},
            durable=True,
        ),
        Server(
            "tandem-batchfn",
            "Tandem, every batch through collab_append_updates",
            "tandem",
            [[*patched, "--batch-function-only"]],
            TANDEM_ENV,
            durable=True,
        ),
        Server(
            "tandem-cursor",
            "Tandem, the loop's statements through a psycopg cursor",
            "tandem",
            [[*patched, "--cursor"]],
            TANDEM_ENV,
            durable=True,
        ),
    ]
    floor = [str(PROJECT_PY), "bench/experiments/asgi_floor.py", "{port}"]
    experiments += [
        Server("asgi-floor", "uvicorn + raw ASGI handshake", "path", [floor], TANDEM_ENV),
        Server(
            "channels-floor",
            "uvicorn + Channels handshake",
            "path",
            [[*floor, "--channels"]],
            TANDEM_ENV,
        ),
    ]
    if selected is None:
        return servers
    known = servers + experiments
    if unknown := selected - {s.name for s in known}:
        raise SystemExit(
            f"unknown server(s) {', '.join(sorted(unknown))} in --servers; "
            f"choose from {', '.join(s.name for s in known)}"
        )
    return [s for s in known if s.name in selected]


def fetch_token(server: Server) -> str:
    body = json.dumps({"username": BENCH_USER, "password": BENCH_PASSWORD}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.ports[0]}/api/auth/token/",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return str(json.load(response)["access"])


TOKENS: dict[str, str] = {}
CRASHES: dict[str, list[str]] = {}


def tandem_metric(server: Server, name: str, timeout: float = 10) -> float:
    """A counter or gauge summed over Tandem's processes, from ``/metrics`` (0 if absent)."""
    total = 0.0
    for port in server.ports:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            for line in response.read().decode().splitlines():
                if line.startswith(name) and not line.startswith("#"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def tandem_bytes(server: Server) -> list[float] | None:
    """Tandem's WebSocket payload bytes received and sent so far; None when ``/metrics`` does
    not answer in time (an overloaded event loop) or the server is not Tandem."""
    if server.style != "tandem":
        return None
    try:
        return [
            tandem_metric(server, f"tandem_bytes_{d}_total", timeout=3)
            for d in ("received", "sent")
        ]
    except OSError:
        return None
