"""Load-shaped faults: a reconnect storm after a replica dies, and a soak of many documents
opened and closed through one process (memory, rooms, Redis keys and database connections
return to their baseline)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

from backend.collab.api.selectors import document_state
from backend.collab.core import content
from backend.documents.models import Document
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.factories import make_document, token_for
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.typists import TrackedClient
from tests.support.waiting import wait_until_async

MANY = {**FAST, "WS_MAX_CONNECTIONS_PER_USER": "5000"}


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return MANY


def _db_connections(dbname: str) -> int:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        user=db["USER"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [dbname]
        ).fetchone()
        return int(row[0]) if row else 0


def _stored_text(document_id: object) -> str:
    """The document as PostgreSQL holds it, one line per paragraph."""
    doc, _ = document_state(document=Document.objects.get(pk=document_id))
    connections.close_all()
    return content.as_text(doc)


def _counted(clients: list[TrackedClient], stored: str) -> tuple[int, int, int]:
    """(sent, acked, lost): the paragraphs the clients typed, those the server acknowledged
    (tandem_ack), and the acknowledged ones missing from the ``stored`` text."""
    for client in clients:
        client.fold_acks()
    acked = {label for c in clients for label in c.acked}
    lines = set(stored.split("\n"))
    return sum(len(c.typed) for c in clients), len(acked), len(acked - lines)


async def test_reconnect_storm_after_a_replica_dies(scene: Scene, tmp_path: Path) -> None:
    figures = Figures("reconnect storm after kill -9")
    count = harness.size(60, 1000)
    dbname = connection.settings_dict["NAME"]
    with TandemProcess(server_env(**MANY), log_path=tmp_path / "doomed.log") as doomed:
        token = await sync_to_async(token_for)(scene.editor)
        doomed_url = scene.url(token=token, on=doomed)
        survivor_url = scene.url(token=token)
        clients: list[TrackedClient] = []
        for start in range(0, count, 50):
            batch = [TrackedClient(doomed_url) for _ in range(start, min(count, start + 50))]
            await asyncio.gather(*(c.connect(hello=0) for c in batch))
            await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in batch)), 60)
            clients += batch
        # A few type (every client receives every paragraph: typing by all would cost the
        # test's own process count**2 updates); all of them reconnect and must converge.
        typists = min(count, 50)
        for i, client in enumerate(clients[:typists]):
            client.type_paragraph(f"before-{i}")
        await wait_until_async(
            lambda: all(len(c.body.children) == typists for c in clients),
            timeout=60,
            what="every client to hold what the typists wrote",
        )
        baseline = await asyncio.to_thread(_db_connections, dbname)
        doomed.kill()
        peak = baseline
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, await asyncio.to_thread(_db_connections, dbname))
                await asyncio.sleep(0.1)  # the sampling interval

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        # The same clients (documents, typed and acknowledged labels) on the survivor.
        await asyncio.gather(*(c.reconnect(survivor_url) for c in clients))
        connected = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in clients)), 120)
        for i, client in enumerate(clients[:typists]):
            client.type_paragraph(f"after-{i}")
        expected = 2 * typists
        await wait_until_async(
            lambda: all(len(c.body.children) == expected for c in clients),
            timeout=120,
            every=0.2,
            what="the storm to converge",
        )
        converged = time.monotonic() - started
        sampling = False
        await sampler
        assert len({c.text() for c in clients}) == 1
        codes = {c.close_code for c in clients}
        assert codes == {None}, codes
        # Every typist's paragraphs acknowledged, once its acks arrived (the survivor acks
        # the sync step 2 that resent what the doomed replica had not).
        await wait_until_async(
            lambda: all(c.awaiting_acks() <= 0 for c in clients),
            timeout=60,
            what="every write to be acknowledged",
        )
        stored = await sync_to_async(_stored_text)(scene.document.id)
        for client in clients:
            await client.close()
    sent, acked, lost = _counted(clients, stored)
    assert (sent, acked, lost) == (expected, expected, 0), (sent, acked, lost)
    assert sorted(stored.split("\n")) == sorted(label for c in clients for label in c.typed)
    assert peak - baseline < 40, (baseline, peak)
    figures.trials, figures.sent, figures.acked, figures.lost = 1, sent, acked, lost
    figures.converge_seconds = converged
    figures.note = (
        f"{count} clients reconnected in {connected:.2f} s ({typists} typing); database "
        f"connections {baseline} before, at most {peak} during"
    )
    harness.record(figures)


def _new_document(owner: Any) -> str:
    document = make_document(owner=owner)
    connections.close_all()
    return str(document.pk)


def _redis_keys() -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return sum(1 for _ in client.scan_iter(f"{settings.REDIS_PREFIX}*", count=1000))


async def test_soak_many_documents_return_to_baseline(scene: Scene) -> None:
    figures = Figures("soak: documents opened and closed")
    documents = harness.size(120, 10_000)
    updates = 10
    dbname = connection.settings_dict["NAME"]
    owner = scene.owner
    token = await sync_to_async(token_for)(owner)
    ids = [await sync_to_async(_new_document)(owner) for _ in range(documents)]

    typed: dict[str, TrackedClient] = {}

    async def session(document_id: str) -> None:
        client = TrackedClient(scene.url(token=token, document=document_id))
        typed[document_id] = client
        await client.connect(hello=0)
        await asyncio.wait_for(client.synced.wait(), 20)
        for i in range(updates):
            client.type_paragraph(f"u{i}")
        # One ack per write: its sync step 2 and each paragraph.
        await client.wait_for(lambda: len(client.acks) >= updates + 1, timeout=30)
        await client.close()

    async def rounds(chunk: list[str]) -> None:
        for start in range(0, len(chunk), 10):
            await asyncio.gather(*(session(d) for d in chunk[start : start + 10]))

    async def settled() -> tuple[int, float, int, int]:
        await wait_until_async(
            lambda: scene.server.metric("tandem_rooms_open") == 0,
            timeout=30,
            every=0.2,
            what="every room to close",
        )
        await asyncio.sleep(1)  # what the closed rooms held is released before measuring
        return (
            scene.server.rss_kb(),
            scene.server.metric("tandem_rooms_open"),
            await asyncio.to_thread(_redis_keys),
            await asyncio.to_thread(_db_connections, dbname),
        )

    await rounds(ids[:20])  # imports, caches and pools settle first
    before = await settled()
    started = time.monotonic()
    await rounds(ids[20:])
    elapsed = time.monotonic() - started
    after = await settled()
    # Counted, then read back from PostgreSQL: each document holds exactly what was typed.
    sent = acked = lost = 0
    for document_id, client in typed.items():
        stored = await sync_to_async(_stored_text)(document_id)
        counts = _counted([client], stored)
        sent, acked, lost = sent + counts[0], acked + counts[1], lost + counts[2]
        assert stored == "\n".join(client.typed), (document_id, stored)
    assert (sent, acked, lost) == (documents * updates, documents * updates, 0)
    rss_growth = after[0] - before[0]
    assert after[1] == before[1] == 0
    assert after[2] <= before[2] + 2, (before, after)
    assert after[3] <= before[3] + 2, (before, after)
    assert rss_growth < 48 * 1024, (before, after)
    figures.trials, figures.inputs, figures.sent, figures.acked = 1, documents, sent, acked
    figures.lost = lost
    figures.converge_seconds = elapsed
    figures.rss_before_kb, figures.rss_after_kb = before[0], after[0]
    figures.note = (
        f"{documents} documents x {updates} updates in {elapsed:.0f} s; rooms "
        f"{before[1]:.0f}->{after[1]:.0f}, Redis keys {before[2]}->{after[2]}, "
        f"DB connections {before[3]}->{after[3]}"
    )
    harness.record(figures)
