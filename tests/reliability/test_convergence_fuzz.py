"""Convergence fuzzing across two replicas, in the spirit of Yjs's ``applyRandomTests``.

Several clients spread over two server processes make seeded random edits (paragraphs and
headings inserted and deleted, text typed and deleted, bold and italic), drop their
connections without a close frame, reconnect to a random replica, pause, and deliver the
same update frame twice. At the end every client, a fresh client on each replica and a
copy freshly loaded from PostgreSQL hold the same content and the same state vector.

A failing seed is printed; replay it with ``CHAOS_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from pycrdt import Doc, XmlElement, XmlText

from backend.collab.api.selectors import document_state
from backend.collab.core import content, integration, protocol
from backend.collab.core.ports import LoadedLog, StoredUpdate
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.documents.models import Document
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.factories import make_document, token_for
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return FAST


class FuzzClient(YClient):
    """Remembers the last update frame it sent, to deliver it again."""

    last_update: bytes | None = None

    def _on_local_change(self, event: Any) -> None:
        if event.update != protocol.EMPTY_UPDATE:
            self.last_update = protocol.sync_update(event.update)
        super()._on_local_change(event)


def state_vector(doc: Any) -> dict[int, int]:
    return integration.state_vector(doc.get_state())


def snapshot(doc: Any) -> tuple[str, list[tuple[int, int]]]:
    return str(content.body(doc)), sorted(state_vector(doc).items())


def edit(client: FuzzClient, rnd: random.Random) -> None:
    blocks = client.body.children
    count = len(blocks)
    action = rnd.choice(["block", "type", "type", "type", "delete", "format", "drop-block"])
    word = "".join(rnd.choice("abcxyz ") for _ in range(rnd.randint(1, 5)))
    if action == "block" or count == 0:
        with client.doc.transaction():
            block = blocks.insert(
                rnd.randint(0, count),
                XmlElement(
                    rnd.choice(["paragraph", "heading"]),
                    {"level": str(rnd.randint(1, 3))} if rnd.random() < 0.5 else None,
                ),
            )
            block.children.append(XmlText(word))
        return
    block = blocks[rnd.randrange(count)]
    texts = [c for c in block.children if isinstance(c, XmlText)]
    if action == "drop-block" or not texts:
        del blocks[rnd.randrange(count)]
        return
    text = texts[0]
    length = len(text)
    if action == "type":
        attrs = {"bold": True} if rnd.random() < 0.2 else None
        text.insert(rnd.randint(0, length), word, attrs)
    elif action == "delete" and length:
        start = rnd.randrange(length)
        del text[start : min(length, start + rnd.randint(1, 4))]
    elif action == "format" and length:
        start = rnd.randrange(length)
        text.format(
            start,
            min(length, start + rnd.randint(1, 4)),
            {rnd.choice(["bold", "italic"]): rnd.choice([True, None])},
        )


async def run_seed(
    seed: int, urls: list[str], clients: int, steps: int
) -> tuple[dict[str, int], list[tuple[str, list[tuple[int, int]]]]]:
    """Runs one seed until every client converges; returns what happened and each client's
    (content, state vector), a fresh client on each replica included."""
    rnd = random.Random(seed)
    counts = {"edits": 0, "drops": 0, "reconnects": 0, "duplicates": 0, "delays": 0}
    fleet: list[FuzzClient] = []
    for i in range(clients):
        client = FuzzClient(urls[i % len(urls)])
        await client.connect()
        await asyncio.wait_for(client.synced.wait(), 10)
        fleet.append(client)
    online = [True] * clients
    try:
        for _ in range(steps):
            i = rnd.randrange(clients)
            client = fleet[i]
            roll = rnd.random()
            if roll < 0.06 and online[i]:
                await client.drop()
                online[i] = False
                counts["drops"] += 1
            elif roll < 0.12 and not online[i]:
                fleet[i] = FuzzClient(rnd.choice(urls), doc=client.doc)
                await fleet[i].connect()
                online[i] = True
                counts["reconnects"] += 1
            elif roll < 0.2 and online[i] and client.last_update:
                await client.send_raw(client.last_update)
                await client.send_raw(client.last_update)
                counts["duplicates"] += 2
            elif roll < 0.28:
                await asyncio.sleep(rnd.uniform(0, 0.05))  # a pause, one of the random steps
                counts["delays"] += 1
            else:
                edit(client, rnd)
                counts["edits"] += 1
            await asyncio.sleep(0)  # the clients' reads run between the steps
        for i in range(clients):
            if not online[i]:
                fleet[i] = FuzzClient(rnd.choice(urls), doc=fleet[i].doc)
                await fleet[i].connect()
        for url in urls:  # what each replica's live room holds
            fresh = FuzzClient(url)
            await fresh.connect()
            await asyncio.wait_for(fresh.synced.wait(), 10)
            fleet.append(fresh)

        def differences() -> str:
            differing = sorted({repr(snapshot(c.doc)) for c in fleet})
            holders = [differing.index(repr(snapshot(c.doc))) for c in fleet]
            return (
                f"seed {seed} to converge: {len(differing)} states; state of each client "
                f"(the last {len(fleet) - clients} are fresh, one per replica): "
                f"{holders}\n" + "\n".join(differing)
            )

        await wait_until_async(
            lambda: len({repr(snapshot(c.doc)) for c in fleet}) == 1,
            timeout=30,
            what=differences,
        )
        return counts, [snapshot(c.doc) for c in fleet]
    finally:
        for client in fleet:
            await client.close()


def _document() -> tuple[str, str]:
    document = make_document()
    token = token_for(document.owner)
    connections.close_all()
    return str(document.pk), token


def _stored(document_id: str) -> tuple[str, list[tuple[int, int]]]:
    doc, _ = document_state(document=Document.objects.get(pk=document_id))
    connections.close_all()
    return snapshot(doc)


def _replayed(updates: list[bytes]) -> tuple[Doc[Any], list[bytes]]:
    rows = [StoredUpdate(seq, update) for seq, update in enumerate(updates, start=1)]
    return integration.doc_from_log(LoadedLog(snapshot=None, snapshot_seq=0, updates=rows))


def _diagnose(document_id: str) -> str:
    """What the whole log (no snapshot) holds, and what of it cannot be integrated."""
    rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("seq")
    log = [(seq, bytes(update)) for seq, update in rows.values_list("seq", "update")]
    doc, waiting = _replayed([update for _, update in log])
    lines = [
        f"database log: {len(log)} rows; replayed from row 1: {snapshot(doc)!r}; "
        f"parts of updates still waiting: {len(waiting)}"
    ]
    snapshots = DocumentSnapshot.objects.filter(document_id=document_id).order_by("seq")
    for seq, state in snapshots.values_list("seq", "state"):
        at, _ = _replayed([bytes(state)])
        replay, _ = _replayed([update for row_seq, update in log if row_seq <= seq])
        same = snapshot(at) == snapshot(replay)
        lines.append(f"snapshot at {seq}: equals the log replayed to {seq}: {same}")
        if not same:
            lines.append(f"  snapshot {snapshot(at)!r}\n  log      {snapshot(replay)!r}")
    connections.close_all()
    return "\n".join(lines)


async def test_random_edits_across_two_replicas_converge_with_the_database(
    scene: Scene, second: TandemProcess
) -> None:
    figures = Figures("convergence fuzz, 2 replicas")
    base = harness.seed_for(figures.scenario)
    figures.seed = base
    seeds = int(os.environ.get("CHAOS_SEEDS") or harness.size(12, 60))  # 1: replay one seed
    clients, steps = harness.size(4, 6), harness.size(60, 300)
    slowest = 0.0
    for n in range(seeds):
        seed = base + n
        if harness.CHAOS:  # visible even if the process dies (make chaos runs with -s)
            print(f"  seed {seed}", flush=True)
        document_id, token = await sync_to_async(_document)()
        urls = [scene.url(token=token, document=document_id, on=s) for s in (scene.server, second)]
        started = time.monotonic()
        try:
            counts, held = await run_seed(seed, urls, clients, steps)
            # Clients hear of each other only through the server, after COMMIT: the
            # database must hold what the converged clients and live rooms show.
            stored = await sync_to_async(_stored)(document_id)
            assert {repr(h) for h in held} == {repr(stored)}, f"seed {seed}: database differs"
        except BaseException:
            print(f"convergence fuzz failed: replay with CHAOS_SEED={seed}")
            print(await sync_to_async(_diagnose)(document_id))
            raise
        slowest = max(slowest, time.monotonic() - started)
        figures.trials += 1
        figures.inputs += sum(counts.values())
        figures.sent += counts["edits"]
        figures.note = "per seed: edits, drops, reconnects, duplicated frames, delays"
    figures.converge_seconds = slowest
    harness.record(figures)
