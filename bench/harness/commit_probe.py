"""How long one durable commit takes on this machine's PostgreSQL, with nothing else running.

Every durable server here (Tandem, the durable bare relay) waits for PostgreSQL's disk
flush before it relays an update, so the flush's tail is theirs: on a virtual disk whose
flush stalls for tens of milliseconds every few seconds, a 5-second fan-out run that
catches one stall has its p99 set by it, whatever the server does. The probe commits one
row every 5 ms for ``seconds`` before the workloads and records the distribution in the
run's JSON, so that a reader can tell a server's tail from the disk's.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from .config import DATABASE_URL
from .report import percentile

PROBE_TABLE = "bench_commit_probe"
STALL_MS = 10.0


def commit_probe(seconds: float = 10.0, every: float = 0.005) -> dict[str, Any]:
    """One-row commits every ``every`` seconds for ``seconds``: p50, p99, p99.9 and max in
    ms, and how many took over ``STALL_MS``."""
    took: list[float] = []
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id bigserial PRIMARY KEY, at float8)"
        )
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            conn.execute(f"INSERT INTO {PROBE_TABLE} (at) VALUES (%s)", (started,))  # noqa: S608
            took.append((time.perf_counter() - started) * 1000)
            time.sleep(every)
        conn.execute(f"TRUNCATE {PROBE_TABLE}")
    return {
        "seconds": seconds,
        "every_ms": every * 1000,
        "commits": len(took),
        "p50_ms": percentile(took, 0.5),
        "p99_ms": percentile(took, 0.99),
        "p999_ms": percentile(took, 0.999),
        "max_ms": max(took),
        "stall_ms": STALL_MS,
        "stalls": sum(t > STALL_MS for t in took),
    }
