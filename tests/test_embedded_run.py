"""The README run command's setup: no services, SQLite and the in-memory layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import rest
from tests.support.servers import ROOT, TandemProcess


def _embedded_env(data_dir: Path) -> dict[str, str]:
    return {
        k: v
        for k, v in {**os.environ, "TANDEM_DATA_DIR": str(data_dir)}.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "METRICS_TOKEN"}
    }


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[str]:
    env = _embedded_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with TandemProcess(env, log_path=tmp_path / "server.log") as server:
        yield server.http_url


def test_embedded_server_serves_the_api_with_no_services(
    embedded_server: str, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{embedded_server}/readyz", timeout=5) as response:  # noqa: S310
        assert json.loads(response.read()) == {"status": "ok", "checks": {"database": "ok"}}
    rest.register(embedded_server, "ada")
    token = rest.token(embedded_server, "ada")
    document = rest.api(embedded_server, "POST", "/api/documents/", {"title": "Local"}, token)
    assert document["role"] == "owner"
    assert (tmp_path / "tandem.sqlite3").exists()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_embedded_server_shows_metrics_without_a_token(embedded_server: str) -> None:
    with urllib.request.urlopen(f"{embedded_server}/metrics", timeout=5) as response:  # noqa: S310
        assert b"tandem_connections_open" in response.read()


def test_production_settings_refuse_to_start_without_secret_key(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path)
    env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/test"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
