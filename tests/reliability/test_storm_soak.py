"""Load-shaped faults: a reconnect storm after a replica dies, and a soak of many documents
opened and closed through one process (memory, rooms, Redis keys and database connections
return to their baseline)."""

from __future__ import annotations

import asyncio
import os
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
from tests.support.client_pool import ClientPool
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


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU time every process of the machine has used so far (all but idle and iowait)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_now(pids: list[int]) -> list[float]:
    """The CPU used so far by each of ``pids``, then by the whole machine, then the time."""
    return [*(_cpu_seconds(pid) for pid in pids), _machine_busy_seconds(), time.monotonic()]


async def test_reconnect_storm_after_a_replica_dies(scene: Scene, tmp_path: Path) -> None:
    """Every client of a replica killed with SIGKILL reconnects to the survivor at once.

    Converged is the time from the kill until every client (1) has its socket open on the
    survivor, resuming from the last sequence number it saw as the browser editor does,
    (2) got its sync step 2 there, and (3) holds the paragraphs the typists wrote after
    it synced, one each, besides the ones they wrote before the kill. The clients live in
    worker processes (``ClientPool``), so the figure is not one Python loop applying
    count x typists updates; the note gives each phase's time and the CPU the clients and
    the survivor used in it."""
    figures = Figures("reconnect storm after kill -9")
    count = harness.size(60, 1000)
    dbname = connection.settings_dict["NAME"]
    typists = min(count, 50)  # every client receives every paragraph: count x typists
    with TandemProcess(server_env(**MANY), log_path=tmp_path / "doomed.log") as doomed:
        token = await sync_to_async(token_for)(scene.editor)
        survivor = scene.server
        assert survivor.process is not None
        async with ClientPool(workers=None if harness.CHAOS else 1) as pool:
            await pool.connect(scene.url(token=token, on=doomed), count=count, typists=typists)
            await pool.type("before")
            await pool.hold(typists, timeout=60)
            baseline = await asyncio.to_thread(_db_connections, dbname)
            pids = [*pool.pids, survivor.process.pid]
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
            cpu = [_cpu_now(pids)]
            connected = await pool.reconnect(scene.url(token=token)) - started
            cpu.append(_cpu_now(pids))
            synced = await pool.synced() - started
            cpu.append(_cpu_now(pids))
            await pool.type("after")
            expected = 2 * typists
            converged = await pool.hold(expected) - started
            cpu.append(_cpu_now(pids))
            sampling = False
            await sampler
            # Every typist's paragraphs acknowledged, once its acks arrived (the survivor
            # acks the sync step 2 that resent what the doomed replica had not).
            await pool.acknowledged()
            report = await pool.report()
            await pool.close()
        stored = await sync_to_async(_stored_text)(scene.document.id)
    assert len(report.texts) == 1, f"{len(report.texts)} different texts"
    assert report.close_codes == {None}, report.close_codes
    sent, acked = len(report.typed), len(report.acked)
    lost = len(report.acked - set(stored.split("\n")))
    assert (sent, acked, lost) == (expected, expected, 0), (sent, acked, lost)
    assert sorted(stored.split("\n")) == sorted(report.typed)
    assert peak - baseline < 40, (baseline, peak)
    figures.trials, figures.sent, figures.acked, figures.lost = 1, sent, acked, lost
    figures.converge_seconds = converged
    phases = []
    for name, before, after in zip(
        ("reconnect", "sync", "typed after"), cpu[:-1], cpu[1:], strict=True
    ):
        used = [b - a for a, b in zip(before, after, strict=True)]
        clients, server, machine, wall = sum(used[:-3]), used[-3], used[-2], used[-1]
        phases.append(
            f"{name} clients {clients:.1f} s, server {server:.1f} s, the machine's cores "
            f"{machine / wall / (os.cpu_count() or 1):.0%} busy"
        )
    figures.note = (
        f"{count} clients in {len(pool.pids)} processes: sockets open {connected:.2f} s, "
        f"synced {synced:.2f} s, {typists} paragraphs typed after reached all "
        f"{converged:.2f} s after the kill; CPU {'; '.join(phases)}; database connections "
        f"{baseline} before, at most {peak} during"
    )
    print(f"[storm] {figures.note}")
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
