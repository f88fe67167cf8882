"""Prometheus metrics at /metrics reflect real traffic."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return {"METRICS_TOKEN": "scrape-secret", "REPLICA_NAME": "replica-a"}


def _scrape(url: str, token: str | None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(response.read().decode())


def _value(text: str, name: str) -> float:
    match = re.search(rf'^{name}\{{replica="replica-a"\}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} missing"
    return float(match.group(1))


async def test_metrics_count_connections_updates_and_rejections(scene: Scene) -> None:
    url = f"{scene.server.http_url}/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(_scrape, url, None)
    assert refused.value.code == 401

    writer = await scene.client(scene.owner, hello=0)
    viewer = await scene.client(scene.viewer)
    writer.append_paragraph("counted")
    await writer.wait_for(lambda: len(writer.acks) == 2)
    viewer.append_paragraph("refused")
    await viewer.wait_for(lambda: bool(viewer.denied))

    text = await asyncio.to_thread(_scrape, url, "scrape-secret")
    assert _value(text, "tandem_connections_open") == 2
    assert _value(text, "tandem_rooms_open") == 1
    assert _value(text, "tandem_updates_accepted_total") == 1
    assert 'tandem_updates_rejected_total{reason="viewer",replica="replica-a"} 1.0' in text
    assert _value(text, "tandem_commit_seconds_count") >= 1
    assert _value(text, "tandem_bytes_received_total") > 0
    assert _value(text, "tandem_bytes_sent_total") > 0


def test_production_without_a_token_refuses_metrics_and_says_how_to_fix_it(
    transactional_db: None, tmp_path: Path
) -> None:
    with TandemProcess(server_env(METRICS_TOKEN=""), log_path=tmp_path / "server.log") as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            _scrape(f"{server.http_url}/metrics", None)
        assert refused.value.code == 403
        body = refused.value.read()
    assert b"tandem_" not in body, "no metric may leak"
    detail = json.loads(body)["detail"]
    assert "METRICS_TOKEN" in detail
    assert "Authorization: Bearer <token>" in detail
