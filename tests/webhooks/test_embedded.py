"""Webhooks in the README run command's setup (SQLite, one process): they work there too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import rest
from tests.support.servers import ROOT, TandemProcess
from tests.support.waiting import wait_until
from tests.webhooks.receiver import running_receiver


def test_the_embedded_server_delivers_webhooks(tmp_path: Path) -> None:
    unset = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "METRICS_TOKEN"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(TANDEM_DATA_DIR=str(tmp_path), WEBHOOK_ALLOW_PRIVATE="true")
    migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
    with (
        running_receiver() as receiver,
        TandemProcess(env, log_path=tmp_path / "server.log") as server,
    ):
        rest.register(server, "ada")
        token = rest.token(server, "ada")
        document = rest.api(server, "POST", "/api/documents/", {"title": "Local"}, token)
        body = {"url": receiver.url, "events": ["document.renamed"]}
        hook = rest.api(server, "POST", "/api/webhooks/", body, token)
        for title in ("One", "Two", "Three"):
            rest.api(server, "PATCH", f"/api/documents/{document['id']}/", {"title": title}, token)
        path = f"/api/webhooks/{hook['id']}/deliveries/"

        def delivered() -> list[str]:
            rows = rest.api(server, "GET", path, token=token)["results"]
            return [row["state"] for row in rows if row["state"] == "delivered"]

        wait_until(lambda: len(delivered()) == 3, what="three deliveries logged", timeout=20)
    titles = sorted(e["document"]["title"] for e in receiver.events())
    assert titles == ["One", "Three", "Two"]
