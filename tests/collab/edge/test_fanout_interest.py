"""Cross-replica fan-out by interest: a replica publishes a document's updates to Redis only
while another replica has the document open, and a replica opening a document while another
is typing in it still converges (the race between its interest and the typing is repaired)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import redis
from asgiref.sync import sync_to_async

from backend.documents.models import Role
from tests.support.datastores import PrivateRedis
from tests.support.factories import make_document, share
from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.yclient import YClient

# No periodic log check within a test: what reaches the other replica came through the
# fan-out, or through the check a replica makes when it hears of another.
NO_PERIODIC_CHECK = {"LOG_CHECK_SECONDS": "60"}


@pytest.fixture
def server_overrides() -> dict[str, str]:
    return NO_PERIODIC_CHECK


@sync_to_async
def _shared_document(scene: Scene) -> uuid.UUID:
    document = make_document(owner=scene.owner)
    share(document, scene.editor, Role.EDITOR)
    return document.id


async def _type(client: YClient, label: str, count: int, interval: float) -> None:
    for i in range(count):
        client.append_paragraph(f"{label}-{i}")
        await asyncio.sleep(interval)


async def test_a_replica_opening_a_document_mid_typing_converges(
    scene: Scene, tmp_path: Path
) -> None:
    with TandemProcess(server_env(**NO_PERIODIC_CHECK), log_path=tmp_path / "second.log") as second:
        for round_ in range(3):
            document = (await _shared_document(scene)) if round_ else scene.document.id
            alice = await scene.client(scene.owner, document=document)
            typing = asyncio.create_task(_type(alice, "a", 1000, 0.005))
            await asyncio.sleep(0.1)  # some 20 updates in
            # Opens the document on the second replica while the first commits updates
            # every few milliseconds, and typing stops as soon as it is in: the last updates
            # race its interest, with nothing typed after them to reveal a gap.
            bob = await scene.client(scene.editor, on=second, document=document)
            typing.cancel()
            await asyncio.gather(typing, return_exceptions=True)
            bob.append_paragraph("b")
            await alice.wait_for(lambda a=alice: "b" in a.text().split("\n"), timeout=5)
            await bob.wait_for(lambda a=alice, b=bob: b.text() == a.text(), timeout=5)
            await alice.wait_for(lambda a=alice, b=bob: b.text() == a.text(), timeout=5)


def _messages_sent(client: redis.Redis) -> int:
    """PUBLISH calls: every layer message between replicas is one (to a replica's channel,
    or once per member replica of a group). Scripts are not counted: presence writes one
    EVALSHA per heartbeat whether or not anything crosses."""
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


async def test_a_replica_alone_on_a_document_publishes_nothing(
    scene: Scene, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    env = server_env(**NO_PERIODIC_CHECK, REDIS_URL=private_redis.url)
    stats = redis.Redis.from_url(private_redis.url)
    with (
        TandemProcess(env, log_path=tmp_path / "one.log") as one,
        TandemProcess(env, log_path=tmp_path / "two.log") as two,
    ):
        alice = await scene.client(scene.owner, on=one)
        carol = await scene.client(scene.viewer, on=one)
        before = await asyncio.to_thread(_messages_sent, stats)
        await _type(alice, "alone", 40, 0.02)
        await carol.wait_for(lambda: len(carol.body.children) == 40)
        alone = await asyncio.to_thread(_messages_sent, stats) - before

        bob = await scene.client(scene.editor, on=two)
        before = await asyncio.to_thread(_messages_sent, stats)
        await _type(alice, "shared", 40, 0.02)
        await bob.wait_for(lambda: len(bob.body.children) == 80)
        shared = await asyncio.to_thread(_messages_sent, stats) - before
    # Alone, only an interest renewal may fall in (a PUBLISH to the document's group).
    # Shared, each update crosses in a PUBLISH of its own or with a few others in a batch.
    assert alone <= 2, f"{alone} messages sent while one replica served the document alone"
    assert shared >= 20, f"only {shared} messages sent for 40 updates crossing replicas"
