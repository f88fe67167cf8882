"""Fault injection while clients type: kill -9, SIGTERM drain, Redis killed and paused,
PostgreSQL stopped. Nothing acknowledged is ever lost; every edit converges everywhere.

Each trial opens a fresh document, starts typists (tracked clients that opt into acks)
spread over two replicas, injects the fault at a seeded random moment, then waits until every
client and the database hold every edit. In the kill -9 and drain trials a room of 20 real
y-websocket providers (awareness on, cursors moving, one writing) shares the document: those
on the dying replica move to the other one, and everyone converges and sees everyone again.
Figures go to the reliability table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from backend.collab.api.selectors import document_state
from backend.collab.core import content
from backend.documents.models import Document, Role
from tests.reliability import harness
from tests.reliability.harness import Figures
from tests.support import rest
from tests.support.factories import make_document, make_user, share, token_for
from tests.support.providers import ProviderRoom, Settled, stored_log
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.typists import Typist, converge
from tests.support.waiting import wait_until_async

CLIENTS = 10
RATE = 20  # updates per second per client
ROOM = 20  # real providers in the document while a replica dies or drains


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return FAST


def _new_document(members: Sequence[Any] = ()) -> tuple[str, list[str]]:
    owner, editor = make_user(), make_user()
    document = make_document(owner=owner)
    for user in (editor, *members):
        share(document, user, Role.EDITOR)
    connections.close_all()
    return str(document.pk), [token_for(owner), token_for(editor)]


def _room_members() -> list[Any]:
    members = [make_user() for _ in range(ROOM)]
    connections.close_all()
    return members


def _stored_labels(document_id: str) -> set[str]:
    doc, _ = document_state(document=Document.objects.get(pk=document_id))
    connections.close_all()
    return set(content.as_text(doc).split("\n")) - {""}


def _urls(servers: list[TandemProcess], first: int, document_id: str, token: str) -> Any:
    order = servers[first:] + servers[:first]
    return lambda: [
        f"{s.ws_url}/ws/documents/{document_id}?token={token}" for s in order if s.alive
    ]


async def typing_trial(
    servers: list[TandemProcess],
    document_id: str,
    tokens: list[str],
    *,
    seconds: float,
    fault_at: float,
    fault: Callable[[], Awaitable[None]],
    stored: Callable[[], Awaitable[set[str]]],
    clients: int = CLIENTS,
) -> tuple[float, int, int, int, list[Typist]]:
    typists = [
        Typist(f"t{i}", _urls(servers, i % len(servers), document_id, tokens[i % len(tokens)]))
        for i in range(clients)
    ]
    await asyncio.gather(*(t.start() for t in typists))
    count = int(seconds * RATE)
    runs = [asyncio.create_task(t.type(count, 1 / RATE)) for t in typists]
    await asyncio.sleep(fault_at)  # the fault strikes at a random moment of the typing
    await fault()
    # A typist on a replica that is now down notices it before converging (on a busy machine
    # the fault can land after its last keystroke, and converging must still reconnect it).
    down = tuple(f"{s.ws_url}/" for s in servers if not s.alive)
    await wait_until_async(
        lambda: (
            not any(
                t.client is not None and t.client.url.startswith(down) and not t.client.cut_off()
                for t in typists
            )
        ),
        what="the typists on a dead replica to notice it",
    )
    await asyncio.gather(*runs)
    converged = await converge(typists, stored, timeout=60)
    return (*converged, typists)


async def _close(typists: list[Typist]) -> None:
    for typist in typists:
        if typist.client is not None:
            await typist.client.close()


async def room_typing_trial(
    servers: list[TandemProcess],
    victim: TandemProcess,
    members: list[Any],
    log_dir: Path,
    *,
    fault_at: float,
    fault: Callable[[], Awaitable[None]],
    codes: set[int],
) -> tuple[float, int, int, int, list[Typist], Settled]:
    """A typing trial with a room of real providers in the document, spread over
    ``servers``: those on ``victim`` move to a replica that is up when their connection
    closes. Once the typists converged the room settles: everyone holds what the database
    holds and sees everyone again; only the victim's providers were closed, with ``codes``."""
    document_id, tokens = await sync_to_async(_new_document)(members)
    urls = [f"{s.ws_url}/ws/documents" for s in servers]
    async with ProviderRoom(urls, document_id, members, log_dir=log_dir, failover=True) as room:
        await room.start()
        seconds, sent, acked, lost, typists = await typing_trial(
            servers,
            document_id,
            tokens,
            seconds=1.5,
            fault_at=fault_at,
            fault=fault,
            stored=lambda: sync_to_async(_stored_labels)(document_id),
        )
        written = await room.stop()
        stored, vector = await stored_log(document_id, written)
        settled = await room.settle(written, vector=vector)
    await _close(typists)
    print(f"[room of {ROOM}] {settled.summary()}")
    assert stored == written, f"the database holds {stored} of {written} room writes"
    on_victim = {i for i in range(ROOM) if servers[i % len(servers)] is victim}
    closed = {i for i, _ in settled.closes}
    assert closed == on_victim, (sorted(closed), sorted(on_victim), settled.summary())
    assert {code for _, code in settled.closes} <= codes, settled.summary()
    assert settled.connected == ROOM, settled.summary()
    assert settled.lost == 0, settled.summary()
    assert settled.converged, settled.summary()
    assert settled.seeing_everyone == ROOM, settled.summary()
    assert settled.claimed_names_shown == 0, settled.summary()
    # The typists too: each one the victim served was closed by it, with ``codes``, and no
    # other connection was closed (every typist starts on server ``i % 2``).
    victim_url = f"{victim.ws_url}/"
    on_victim = {t.name for i, t in enumerate(typists) if servers[i % len(servers)] is victim}
    closes = {
        t.name: [("victim" if url.startswith(victim_url) else "other", code) for url, code in c]
        for t in typists
        if t.client is not None and (c := t.client.closes)
    }
    assert {n for n, c in closes.items() if c[0][0] == "victim"} == on_victim, closes
    assert {code for c in closes.values() for _, code in c} <= codes, closes
    return seconds, sent, acked, lost, typists, settled


def _add_room(figures: Figures, settled: Settled) -> None:
    figures.closes = (figures.closes or 0) + len(settled.closes)
    figures.p50_ms = max(figures.p50_ms or 0, settled.p50_ms or 0)
    figures.p99_ms = max(figures.p99_ms or 0, settled.p99_ms or 0)
    figures.note = (
        f"with a room of {ROOM} providers per trial: {figures.closes} closes in all (those of "
        f"the dying replica), worst trial's delivery p50 {figures.p50_ms} ms, "
        f"p99 {figures.p99_ms} ms"
    )


async def replica_fault_trials(
    figures: Figures,
    servers: list[TandemProcess],
    log_dir: Path,
    *,
    trials: int,
    fault_at: tuple[float, float],
    fault: Callable[[TandemProcess], Awaitable[None]],
    codes: set[int],
) -> None:
    """``trials`` room typing trials, ``fault`` striking each replica in turn (started again
    after each trial), at a seeded random moment; nothing acknowledged may be lost."""
    figures.seed = seed = harness.seed_for(figures.scenario)
    random = harness.rng(seed)
    members = await sync_to_async(_room_members)()
    for trial in range(trials):
        victim = servers[trial % 2]
        seconds, sent, acked, lost, typists, settled = await room_typing_trial(
            servers,
            victim,
            members,
            log_dir / f"room-{trial}",
            fault_at=random.uniform(*fault_at),
            fault=lambda victim=victim: fault(victim),
            codes=codes,
        )
        # Every typist the victim served moved to a replica that is up.
        stayed = [t.name for t in typists if t.client and t.client.url.startswith(victim.ws_url)]
        assert not stayed, f"{stayed} stayed on the replica that went down"
        await asyncio.to_thread(victim.start)
        figures.trials += 1
        figures.sent += sent
        figures.acked += acked
        figures.lost += lost
        figures.converge_seconds = max(figures.converge_seconds, seconds, settled.settle_seconds)
        _add_room(figures, settled)
        assert lost == 0, f"trial {trial}: {lost} acknowledged updates lost (seed {seed})"
    harness.record(figures)


async def test_kill_9_at_random_moments_loses_no_acknowledged_update(
    scene: Scene, second: TandemProcess, tmp_path: Path
) -> None:
    async def kill(victim: TandemProcess) -> None:
        victim.kill()

    await replica_fault_trials(
        Figures("kill -9 of a replica while typing"),
        [scene.server, second],
        tmp_path,
        trials=harness.size(2, 20),
        fault_at=(0.1, 1.4),
        fault=kill,
        codes={1006},
    )


async def test_sigterm_drain_while_typing_loses_nothing(
    scene: Scene, second: TandemProcess, tmp_path: Path
) -> None:
    async def drain(victim: TandemProcess) -> None:
        assert await asyncio.to_thread(victim.stop) in (0, -15)

    await replica_fault_trials(
        Figures("SIGTERM drain while typing"),
        [scene.server, second],
        tmp_path,
        trials=harness.size(1, 5),
        fault_at=(0.2, 1.2),
        fault=drain,
        codes={1012},
    )


@pytest.mark.parametrize("fault", ["restart", "pause"])
async def test_redis_killed_or_paused_while_typing_loses_nothing(
    scene: Scene, tmp_path: Path, private_redis: Any, fault: str
) -> None:
    scenario = "Redis killed and restarted" if fault == "restart" else "Redis paused 5 s"
    figures = Figures(scenario)
    figures.seed = seed = harness.seed_for(figures.scenario)
    random = harness.rng(seed)
    env = server_env(**FAST, REDIS_URL=private_redis.url)
    with (
        TandemProcess(env, log_path=tmp_path / "r1.log") as one,
        TandemProcess(env, log_path=tmp_path / "r2.log") as two,
    ):
        for trial in range(harness.size(1, 3)):
            document_id, tokens = await sync_to_async(_new_document)()

            async def inject() -> None:
                if fault == "restart":
                    private_redis.kill()
                    await asyncio.sleep(0.5)  # down for half a second
                    await asyncio.to_thread(private_redis.start)
                else:
                    private_redis.pause(5)

            seconds, sent, acked, lost, typists = await typing_trial(
                [one, two],
                document_id,
                tokens,
                seconds=2 if fault == "restart" else 6,
                fault_at=random.uniform(0.2, 0.8),
                fault=inject,
                stored=lambda d=document_id: sync_to_async(_stored_labels)(d),
            )
            await _close(typists)
            figures.trials += 1
            figures.sent += sent
            figures.acked += acked
            figures.lost += lost
            figures.converge_seconds = max(figures.converge_seconds, seconds)
            assert lost == 0, f"trial {trial}: {lost} acknowledged updates lost (seed {seed})"
    harness.record(figures)


# --- PostgreSQL stopped ---------------------------------------------------------------------


def _setup_over_rest(server: TandemProcess) -> tuple[str, list[str]]:
    """Users and a document in the private database, made through the public API."""
    for name in ("pg-owner", "pg-editor"):
        rest.register(server, name)
    tokens = [rest.token(server, name) for name in ("pg-owner", "pg-editor")]
    document = rest.shared_document(server, tokens[0], "chaos", **{"pg-editor": "editor"})
    return str(document["id"]), tokens


async def test_postgres_stopped_and_restarted_acknowledges_nothing_and_loses_nothing(
    tmp_path: Path, private_postgres: Any, private_redis: Any
) -> None:
    figures = Figures("PostgreSQL stopped (immediate) 3 s")
    figures.seed = seed = harness.seed_for(figures.scenario)
    random = harness.rng(seed)
    env = server_env(**FAST, DATABASE_URL=private_postgres.url, REDIS_URL=private_redis.url)
    with (
        TandemProcess(env, log_path=tmp_path / "p1.log") as one,
        TandemProcess(env, log_path=tmp_path / "p2.log") as two,
    ):
        document_id, tokens = await asyncio.to_thread(_setup_over_rest, one)

        def stored_sync() -> set[str]:
            body = rest.api(one, "GET", f"/api/documents/{document_id}/content/", token=tokens[0])
            return set(body["text"].split("\n")) - {""}

        for trial in range(harness.size(1, 3)):
            events: dict[str, float] = {}

            async def outage(events: dict[str, float] = events) -> None:
                await asyncio.to_thread(private_postgres.stop_immediate)
                events["stopped"] = time.monotonic()
                await asyncio.sleep(3)  # down for 3 s
                events["restarting"] = time.monotonic()
                await asyncio.to_thread(private_postgres.start)

            typists = [
                Typist(f"p{trial}-{i}", _urls([one, two], i % 2, document_id, tokens[i % 2]))
                for i in range(harness.size(4, CLIENTS))
            ]
            await asyncio.gather(*(t.start() for t in typists))
            count = int(5 * RATE)
            runs = [asyncio.create_task(t.type(count, 1 / RATE)) for t in typists]
            await asyncio.sleep(random.uniform(0.3, 1.0))  # the outage at a random moment
            await outage()
            await asyncio.gather(*runs)
            seconds, sent, acked, lost = await converge(
                typists, lambda: asyncio.to_thread(stored_sync), timeout=60
            )
            clients = [t.client for t in typists if t.client is not None]
            closes = {code for c in clients for code in c.close_history}
            # While PostgreSQL is down nothing is acknowledged or broadcast (frames already
            # in flight when it stopped get 0.5 s to arrive).
            window = (events["stopped"] + 0.5, events["restarting"])
            during = [t for c in clients for t in c.delivered if window[0] < t < window[1]]
            assert during == [], f"{len(during)} updates/acks delivered while PostgreSQL was down"
            assert 1013 in closes, closes
            await _close(typists)
            figures.trials += 1
            figures.sent += sent
            figures.acked += acked
            figures.lost += lost
            figures.converge_seconds = max(figures.converge_seconds, seconds)
            assert lost == 0, f"{lost} acknowledged updates lost (seed {seed}); closes {closes}"
    harness.record(figures)
