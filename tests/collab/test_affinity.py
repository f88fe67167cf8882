"""Document affinity: behind the compose nginx (hash on the document id in the path), a
document's clients share one replica, so no update has to cross replicas. The same workload
with clients spread round-robin across replicas shows what affinity saves."""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.documents.models import Document, Role
from tests.deploy.test_nginx import loopback_config, nginx_command
from tests.support.factories import make_document, make_user, share, token_for
from tests.support.servers import TandemProcess, free_port, server_env
from tests.support.waiting import wait_until
from tests.support.yclient import YClient

DOCUMENTS, UPDATES_PER_CLIENT = 6, 5


@pytest.fixture
def replicas(transactional_db: None, tmp_path: Path) -> Iterator[list[TandemProcess]]:
    env = server_env(LOG_CHECK_SECONDS="0.5")
    with (
        TandemProcess(env, log_path=tmp_path / "1.log") as one,
        TandemProcess(env, log_path=tmp_path / "2.log") as two,
    ):
        yield [one, two]


@pytest.fixture
def nginx(replicas: list[TandemProcess], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        loopback_config(port, {"tandem-1": replicas[0].port, "tandem-2": replicas[1].port})
    )
    process = subprocess.Popen(nginx_command(conf, "-g", "daemon off;"))
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), what="nginx to answer")
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()  # noqa: S310
    except OSError:
        return False
    return True


def _cross_replica_deliveries(replicas: list[TandemProcess]) -> float:
    return sum(replica.metric("tandem_fanout_delivery_seconds_count") for replica in replicas)


def _documents() -> list[tuple[Document, Any, Any]]:
    rows = []
    for _ in range(DOCUMENTS):
        owner, editor = make_user(), make_user()
        document = make_document(owner=owner)
        share(document, editor, Role.EDITOR)
        rows.append((document, owner, editor))
    return rows


async def _type_everywhere(urls: list[tuple[str, str]]) -> None:
    """Two clients per document type; wait until every document converged."""
    clients = [await YClient(url).connect() for pair in urls for url in pair]
    try:
        for client in clients:
            await asyncio.wait_for(client.synced.wait(), 10)
        # Replicas publish a document's updates once they know another has it open: let the
        # interest they announced on opening it arrive before typing.
        await asyncio.sleep(0.5)
        for i in range(UPDATES_PER_CLIENT):
            for n, client in enumerate(clients):
                client.append_paragraph(f"{n}-{i}")
            await asyncio.sleep(0.02)  # rounds of typing, as people type
        for client in clients:
            await client.wait_for(lambda c=client: len(c.body.children) == 2 * UPDATES_PER_CLIENT)
    finally:
        for client in clients:
            await client.close()


def _url(base: str, document: Document, user: Any) -> str:
    return f"{base}/ws/documents/{document.id}?token={token_for(user)}"


def test_affinity_keeps_every_update_on_one_replica(
    replicas: list[TandemProcess], nginx: str
) -> None:
    docs = _documents()
    asyncio.run(_type_everywhere([(_url(nginx, d, o), _url(nginx, d, e)) for d, o, e in docs]))
    with_affinity = _cross_replica_deliveries(replicas)

    spread = [
        (_url(replicas[0].ws_url, d, o), _url(replicas[1].ws_url, d, e)) for d, o, e in _documents()
    ]
    asyncio.run(_type_everywhere(spread))
    round_robin = _cross_replica_deliveries(replicas) - with_affinity
    updates = DOCUMENTS * 2 * UPDATES_PER_CLIENT
    print(
        f"\ncross-replica deliveries for {updates} updates: affinity {with_affinity:.0f}, "
        f"round-robin {round_robin:.0f}"
    )
    assert with_affinity == 0
    assert round_robin >= updates  # every update crossed to the other replica
