"""Where the bench runs: its paths, database, Redis and the environment Tandem gets."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # bench/harness/config.py
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
NODE_BIN = "node"
PROJECT_PY = ROOT / ".venv" / "bin" / "python"
BENCH_PY = BENCH / ".venv" / "bin" / "python"

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DB_NAME = os.environ.get("BENCH_DATABASE", "tandem_bench")
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# A fixed key for the bench's own servers on loopback, never a deployment's.
SECRET_KEY = "tandem-bench-only-secret-key-not-for-production"  # noqa: S105
BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-not-secret-1"
# Production mode closes /metrics without a token; the bench reads it (servers.tandem_metric).
METRICS_TOKEN = "tandem-bench-only-metrics-token"  # noqa: S105


# Tandem's environment for the bench: production code paths (PostgreSQL, Redis, durable log,
# snapshots every 500 updates), with the per-user limits raised because one user owns every
# bench connection, long-lived tokens, and rooms unloading after 1 s so cold loads are cold.
TANDEM_ENV = {
    "DJANGO_SETTINGS_MODULE": "backend.settings",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "REDIS_PREFIX": "tandem-bench",
    "SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "JWT_ACCESS_LIFETIME": str(7 * 24 * 3600),
    "WS_MAX_CONNECTIONS_PER_USER": "100000",
    "WS_MAX_MESSAGES_PER_SECOND": "1000000",
    "ROOM_IDLE_SECONDS": "1",
    "LOG_LEVEL": "WARNING",
    "METRICS_TOKEN": METRICS_TOKEN,
    # The big-document workload pastes 20 MB in one message (the default was 1 MiB until
    # issue 13); set here so the bench runs the same before and after that change.
    "WS_MAX_MESSAGE_BYTES": str(32 * 1024 * 1024),
}
