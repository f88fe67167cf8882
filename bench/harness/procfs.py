"""Measurement of processes from /proc: CPU time, RSS, CPU pressure, the database's backends."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from .config import DB_NAME

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


class Sampler:
    """Samples the summed RSS of ``pids`` every 50 ms; ``peak`` is the highest sum seen."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = sum(rss_bytes(p) for p in pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, sum(rss_bytes(p) for p in self.pids))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def postgres_backends() -> list[int]:
    """Pids of the PostgreSQL backends serving the bench database (Tandem's durability CPU)."""
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB_NAME,
            "-Atc",
            "select pid from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(line) for line in out.stdout.split() if line.strip().isdigit()]


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def cpu_pressure() -> float:
    """Seconds during which some runnable task waited for a CPU (/proc/pressure/cpu), so a
    window's share tells how busy the shared machine was; 0 where PSI is missing."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0.0
    return int(some.rsplit("total=", 1)[1]) / 1e6


class DatabaseCpu:
    """CPU seconds the bench database's backends spent between ``start`` and ``stop``.

    A backend that opened in between counts from its start. One that was there at the start
    and ended before the stop (a Tandem commit connection renewed past ``CONN_MAX_AGE``, for
    one) makes the figure unknown: ``stop`` returns None rather than the survivors' share,
    which had read as 0.00 s for a Tandem whose every connection was renewed in the window.
    Not ``measured`` (a server with no database): nothing is read, and ``stop`` returns None.
    """

    def __init__(self, measured: bool) -> None:
        self._measured = measured
        self._start: dict[int, float] = {}

    def start(self) -> None:
        if self._measured:
            self._start = {pid: cpu_seconds(pid) for pid in postgres_backends()}

    def stop(self) -> float | None:
        if not self._measured:
            return None
        now = postgres_backends()
        if any(pid not in now for pid in self._start):
            return None
        return sum(max(0.0, cpu_seconds(pid) - self._start.get(pid, 0.0)) for pid in now)
