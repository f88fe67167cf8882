"""Convergence fuzzing across two replicas, in the spirit of Yjs's ``applyRandomTests``.

Several clients spread over two server processes make seeded random edits (paragraphs and
headings inserted and deleted, text typed and deleted, bold and italic), drop their
connections without a close frame, reconnect to a random replica, pause, and deliver the
same update frame twice. At the end every client, a fresh client on each replica and the
stored log hold the same content and the same state vector.

Two populations, one oracle independent of the server: real y-websocket providers
(tests/collab/node/fuzz_clients.mjs), and Python clients (pycrdt, like the server). Both are
judged by Yjs (tests/collab/node/yjs_judge.mjs): the rows of PostgreSQL's update log applied
in sequence order onto a fresh ``Y.Doc``, compared with every client's state; no code of
``backend.collab`` decides, so a bug there cannot hide itself.

A failing seed is printed; replay it with ``CHAOS_SEED=<seed>`` (and ``CHAOS_SEEDS=1``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from pycrdt import Doc, XmlElement, XmlText

from backend.collab.core import content, integration, protocol
from backend.collab.core.ports import LoadedLog, StoredUpdate
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.documents.models import Document
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support.factories import make_document, token_for
from tests.support.node import run_script
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient


@pytest.fixture
def server_overrides() -> dict[str, str]:
    # Snapshots every 10 updates (on the first replica): the judge checks each one too.
    return {**FAST, "SNAPSHOT_EVERY": "10"}


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
) -> tuple[dict[str, int], list[str]]:
    """Runs one seed until every client converges; returns what happened and each client's
    state (base64 of its whole update), a fresh client on each replica included."""
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
        return counts, [_b64(c.doc.get_update()) for c in fleet]
    finally:
        for client in fleet:
            await client.close()


def _document() -> tuple[str, str]:
    document = make_document()
    token = token_for(document.owner)
    connections.close_all()
    return str(document.pk), token


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _log(document_id: str) -> dict[str, Any]:
    """A document's head and its stored rows and snapshots, as the tables hold them."""
    rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("seq")
    snapshots = DocumentSnapshot.objects.filter(document_id=document_id).order_by("seq")
    log = {
        "head": Document.objects.values_list("head_seq", flat=True).get(pk=document_id),
        "rows": [[seq, _b64(bytes(u))] for seq, u in rows.values_list("seq", "update")],
        "snapshots": [[seq, _b64(bytes(s))] for seq, s in snapshots.values_list("seq", "state")],
    }
    connections.close_all()
    return log


async def judge(runs: list[tuple[int, str, list[str]]], scratch: Path) -> list[dict[str, Any]]:
    """Yjs's verdict on each (seed, document id, base64 state of every client): the stored
    log replayed by Yjs must equal every client (tests/collab/node/yjs_judge.mjs)."""
    entries = []
    for seed, document_id, states in runs:
        entries.append({"seed": seed, "clients": states, **await sync_to_async(_log)(document_id)})
    path = scratch / "judge-input.json"
    path.write_text(json.dumps({"runs": entries}))
    verdict = await run_script("yjs_judge.mjs", {"JUDGE_INPUT": str(path)}, timeout=300)
    verdicts: list[dict[str, Any]] = verdict["runs"]
    return verdicts


def verdict_text(verdict: dict[str, Any]) -> str:
    return (
        f"seed {verdict['seed']}: the log ({verdict['rows']} rows) replayed by Yjs holds "
        f"{verdict['content']!r}, state vector {verdict['vector']}\n"
        + "\n".join(f"  {problem}" for problem in verdict["problems"])
    )


async def test_random_edits_across_two_replicas_converge_with_the_database(
    scene: Scene, second: TandemProcess, tmp_path: Path
) -> None:
    figures = Figures("convergence fuzz, 2 replicas")
    base = harness.seed_for(figures.scenario)
    figures.seed = base
    seeds = int(os.environ.get("CHAOS_SEEDS") or harness.size(12, 60))  # 1: replay one seed
    clients, steps = harness.size(4, 6), harness.size(60, 300)
    slowest = 0.0
    held: list[tuple[int, str, list[str]]] = []  # seed, document, each client's state
    for n in range(seeds):
        seed = base + n
        if harness.CHAOS:  # visible even if the process dies (make chaos runs with -s)
            print(f"  seed {seed}", flush=True)
        document_id, token = await sync_to_async(_document)()
        urls = [scene.url(token=token, document=document_id, on=s) for s in (scene.server, second)]
        started = time.monotonic()
        try:
            counts, states = await run_seed(seed, urls, clients, steps)
        except BaseException:
            print(f"convergence fuzz failed: replay with CHAOS_SEED={seed} CHAOS_SEEDS=1")
            print(await sync_to_async(_diagnose)(document_id))
            raise
        held.append((seed, document_id, states))
        slowest = max(slowest, time.monotonic() - started)
        figures.trials += 1
        figures.inputs += sum(counts.values())
        figures.sent += counts["edits"]
        figures.note = "per seed: edits, drops, reconnects, duplicated frames, delays"
    # Clients hear of each other only through the server, after COMMIT: the database must
    # hold what the converged clients and live rooms show.
    verdicts = await judge(held, tmp_path)
    failed = [
        (document_id, verdict)
        for (_, document_id, _), verdict in zip(held, verdicts, strict=True)
        if not verdict["ok"]
    ]
    for document_id, verdict in failed:
        print(f"convergence fuzz failed: replay with CHAOS_SEED={verdict['seed']} CHAOS_SEEDS=1")
        print(verdict_text(verdict))
        print(await sync_to_async(_diagnose)(document_id))
    assert not failed, f"{len(failed)} of {seeds} seeds failed: {[v['seed'] for _, v in failed]}"
    figures.converge_seconds = slowest
    harness.record(figures)


async def test_yjs_providers_converge_with_the_log_as_yjs_replays_it(
    scene: Scene, second: TandemProcess, tmp_path: Path
) -> None:
    figures = Figures("convergence fuzz, Yjs providers")
    base = harness.seed_for(figures.scenario)
    figures.seed = base
    seeds = int(os.environ.get("CHAOS_SEEDS") or harness.size(12, 60))  # 1: replay one seed
    clients, steps = harness.size(4, 6), harness.size(60, 300)
    runs = []
    for n in range(seeds):
        document_id, token = await sync_to_async(_document)()
        runs.append({"seed": base + n, "doc": document_id, "token": token})
    config = tmp_path / "fuzz-config.json"
    config.write_text(
        json.dumps(
            {
                "urls": [f"{replica.ws_url}/ws/documents" for replica in (scene.server, second)],
                "clients": clients,
                "steps": steps,
                "timeout": 30_000,
                "runs": runs,
            }
        )
    )
    ran = await run_script("fuzz_clients.mjs", {"FUZZ_CONFIG": str(config)}, timeout=seeds * 70)
    verdicts = await judge(
        [(r["seed"], r["doc"], [c["state"] for c in r["clients"]]) for r in ran["runs"]], tmp_path
    )
    failed = [
        (run, verdict)
        for run, verdict in zip(ran["runs"], verdicts, strict=True)
        if not (run["converged"] and verdict["ok"])
    ]
    for run, verdict in failed:
        print(f"convergence fuzz (Yjs) failed: replay with CHAOS_SEED={run['seed']} CHAOS_SEEDS=1")
        print(f"providers converged: {run['converged']}; {run['counts']}")
        print(verdict_text(verdict))
    assert not failed, f"{len(failed)} of {seeds} seeds failed: {[r['seed'] for r, _ in failed]}"
    figures.trials = seeds
    figures.inputs = sum(sum(run["counts"].values()) for run in ran["runs"])
    figures.sent = sum(run["counts"]["edits"] for run in ran["runs"])
    figures.converge_seconds = max(run["seconds"] for run in ran["runs"])
    figures.note = (
        f"{clients} y-websocket providers per seed: edits, drops, offline, reconnects, "
        "duplicated frames, delays; judged by Yjs from the stored log"
    )
    harness.record(figures)
