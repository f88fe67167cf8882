"""Real Tandem server processes for tests that cross a real socket.

``TandemProcess`` starts ``python -m backend.serve`` (uvicorn, the README run command's
server) on a free loopback port with the given environment, waits until ``/healthz``
answers, and stops it with SIGTERM (or ``kill()`` for a SIGKILL). It also tells whether the
process is alive, its resident memory and the value of a metric it exports.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_database_url() -> str:
    """A URL for the database the running test uses (pytest-django's ``test_...``)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


TEST_METRICS_TOKEN = "tandem-test-metrics-token"


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a server sharing this test's PostgreSQL database and Redis."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        REDIS_PREFIX=settings.REDIS_PREFIX,
        SECRET_KEY=settings.SECRET_KEY,
        DATABASE_CONN_MAX_AGE="0",
        METRICS_TOKEN=TEST_METRICS_TOKEN,  # production mode serves /metrics only with one
    )
    env.update(overrides)
    return env


class TandemProcess:
    """One server process on ``127.0.0.1:<port>``; use as a context manager."""

    def __init__(
        self, env: dict[str, str], *, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> TandemProcess:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend.serve"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.http_url}/healthz", timeout=1).close()  # noqa: S310
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"Tandem did not start on port {self.port}"
                        + (f"; see {self.log_path}" if self.log_path else "")
                    ) from None
                time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the replica dies without any cleanup."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_kb(self) -> int:
        """Resident set size of the process, from /proc/<pid>/status."""
        assert self.process is not None
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def metric(self, name: str) -> float:
        """Sum of one Prometheus metric's samples on ``/metrics``."""
        token = self.env.get("METRICS_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"{self.http_url}/metrics", headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def __enter__(self) -> TandemProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
