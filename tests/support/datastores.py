"""Datastores of a test's own, to break without disturbing anyone: a redis-server and a
PostgreSQL cluster on free loopback ports (the machine's Redis and PostgreSQL are shared by
every test run). Fixtures ``private_redis`` and ``private_postgres``, registered for the whole
suite by tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.servers import ROOT, free_port, server_env
from tests.support.waiting import wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivateRedis:
    """A redis-server of this test's own on a free port: killing or pausing it disturbs no
    other test run (the machine's Redis at 6379 is shared)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed (Debian package redis-server)"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            # pause() sends DEBUG SLEEP, which Redis 7 refuses unless enabled.
            "--enable-debug-command",
            "local",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        wait_until(
            lambda: (
                subprocess.run(ping, capture_output=True, check=False).stdout.strip() == b"PONG"
            ),
            what="the private redis to answer PING",
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Killed and started again: everything it held is gone."""
        self.kill()
        self.start()

    def pause(self, seconds: float) -> subprocess.Popen[bytes]:
        """DEBUG SLEEP: the server stops answering for ``seconds`` (returns at once)."""
        return subprocess.Popen(
            ["redis-cli", "-p", str(self.port), "DEBUG", "SLEEP", str(seconds)],
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis_server = PrivateRedis(tmp_path)
    redis_server.start()
    yield redis_server
    redis_server.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (initdb in a temporary directory, trust auth,
    a free port), migrated with manage.py; ``stop_immediate`` is ``pg_ctl stop -m immediate``."""

    def __init__(self) -> None:
        # PostgreSQL refuses to run as root: when we are root, the cluster belongs to the
        # postgres user, in a directory it can reach.
        self.directory = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.directory / "pgdata"
        self.port = free_port()
        self.log = self.directory / "postgres.log"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/tandem"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self, env: dict[str, str]) -> None:
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]
        subprocess.run(
            [*self.as_user, *initdb, "--no-sync"], check=True, capture_output=True, timeout=120
        )
        self.start()
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE tandem")
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": self.url},
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self._pg_ctl(
            "start",
            "-w",
            "-l",
            str(self.log),
            "-o",
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def stop_immediate(self) -> None:
        self._pg_ctl("stop", "-m", "immediate", "-w")

    def connections(self) -> int:
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'tandem'"
            ).fetchone()
            return int(row[0]) if row else 0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.init(server_env())
        yield cluster
    finally:
        subprocess.run(
            [
                *cluster.as_user,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(cluster.data),
                "stop",
                "-m",
                "immediate",
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(cluster.directory, ignore_errors=True)
