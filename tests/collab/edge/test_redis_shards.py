"""REDIS_URL as a comma-separated list: the channel layer shards over those Redis servers
(two database numbers of the test Redis stand in for two servers), across two replicas."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import redis
from asgiref.sync import sync_to_async
from channels_redis.utils import _consistent_hash
from django.conf import settings

from backend.collab.edge.fanout import group_name
from backend.documents.models import Role
from tests.support.factories import make_document, share
from tests.support.scene import FAST, Scene
from tests.support.servers import TandemProcess, server_env

SHARDS = ["redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/2"]


@sync_to_async
def _document_on_each_shard(scene: Scene) -> list[uuid.UUID]:
    """Two documents shared with the editor, whose groups live on different shards."""
    by_shard: dict[int, uuid.UUID] = {}
    while len(by_shard) < len(SHARDS):
        document = make_document(owner=scene.owner)
        share(document, scene.editor, Role.EDITOR)
        by_shard.setdefault(_consistent_hash(group_name(document.id), len(SHARDS)), document.id)
    return [by_shard[i] for i in range(len(SHARDS))]


def _layer_keys(url: str) -> list[bytes]:
    return list(redis.Redis.from_url(url).scan_iter(f"{settings.REDIS_PREFIX}:layer*"))


async def test_two_redis_urls_shard_the_layer_across_replicas(scene: Scene, tmp_path: Path) -> None:
    env = server_env(**FAST, REDIS_URL=",".join(SHARDS))
    documents = await _document_on_each_shard(scene)
    with (
        TandemProcess(env, log_path=tmp_path / "one.log") as one,
        TandemProcess(env, log_path=tmp_path / "two.log") as two,
    ):
        pairs = []
        for document in documents:
            alice = await scene.client(scene.owner, on=one, document=document)
            bob = await scene.client(scene.editor, on=two, document=document)
            pairs.append((alice, bob))
        await asyncio.sleep(0.5)  # the replicas' interest in each other arrives
        for i in range(10):
            for alice, bob in pairs:
                alice.append_paragraph(f"a{i}")
                bob.append_paragraph(f"b{i}")
            await asyncio.sleep(0.02)
        for alice, bob in pairs:
            await alice.wait_for(lambda a=alice: len(a.body.children) == 20)
            await bob.wait_for(lambda a=alice, b=bob: b.text() == a.text())
        # Each document's group lives on its own shard while the rooms are open.
        for url in SHARDS:
            keys = await asyncio.to_thread(_layer_keys, url)
            assert any(b":group:tandem.doc." in key for key in keys), (url, keys)
