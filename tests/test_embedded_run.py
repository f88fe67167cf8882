"""The README run command's setup: no services, SQLite and the in-memory layer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    }
    env.update(TANDEM_DATA_DIR=str(data_dir), HOST="127.0.0.1", PORT=str(port))
    return env


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = _embedded_env(tmp_path, port)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()  # noqa: S310
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"embedded server did not start:\n{output}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _post(url: str, body: dict[str, str], token: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def test_embedded_server_serves_the_api_with_no_services(
    embedded_server: str, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{embedded_server}/readyz", timeout=5) as response:  # noqa: S310
        assert json.loads(response.read()) == {"status": "ok", "checks": {"database": "ok"}}
    account = {"username": "ada", "password": "correct horse battery staple"}
    _post(f"{embedded_server}/api/auth/register/", account)
    token = _post(f"{embedded_server}/api/auth/token/", account)["access"]
    document = _post(f"{embedded_server}/api/documents/", {"title": "Local"}, token)
    assert document["role"] == "owner"
    assert (tmp_path / "tandem.sqlite3").exists()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_settings_refuse_to_start_without_secret_key(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path, 0)
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
