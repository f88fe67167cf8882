"""This process's real-time machinery, wired from settings: rooms, fan-out and presence."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.conf import settings

from backend.collab.core.ports import Access
from backend.collab.core.room import RoomLimits
from backend.collab.core.rooms import RoomRegistry
from backend.collab.edge.fanout import LayerFanout
from backend.collab.edge.loop_lag import start_loop_lag_monitor
from backend.collab.edge.metrics import PrometheusRoomMetrics
from backend.collab.edge.presence import LocalPresence, PresenceEntry, RedisPresence
from backend.collab.storage.db import in_db_thread
from backend.collab.storage.store import DjangoUpdateStore
from backend.documents.models import Role
from backend.documents.permissions import document_access_snapshots


@dataclass
class Runtime:
    registry: RoomRegistry
    presence: LocalPresence
    fanout: LayerFanout | None

    async def close(self) -> None:
        """Flush every room (final snapshots), leave presence, stop the fan-out."""
        await self.registry.close()
        if isinstance(self.presence, RedisPresence):
            await self.presence.close()
        if self.fanout is not None:
            await self.fanout.stop()


_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[Runtime]] = (
    weakref.WeakKeyDictionary()
)


async def get_runtime() -> Runtime:
    """The runtime of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    if loop not in _runtimes:
        future = _runtimes[loop] = loop.create_future()
        try:
            future.set_result(await _create())
        except BaseException as exc:
            del _runtimes[loop]  # the next connection tries again
            future.set_exception(exc)
            future.exception()  # retrieved: every waiter re-raises it
            raise
    return await _runtimes[loop]


def current_runtime() -> Runtime | None:
    """The running loop's runtime if it exists (used at shutdown)."""
    try:
        future = _runtimes.get(asyncio.get_running_loop())
    except RuntimeError:
        return None
    return future.result() if future is not None and future.done() else None


def local_presence_entries(document_id: object) -> list[PresenceEntry]:
    """Presence held in this process's runtimes (the embedded setup's whole truth)."""
    entries: list[PresenceEntry] = []
    for future in list(_runtimes.values()):
        if future.done() and not future.exception():
            entries += future.result().presence.entries(document_id)  # type: ignore[arg-type]
    return entries


async def room_access(*, users_by_document: dict[uuid.UUID, set[int]]) -> dict[uuid.UUID, Access]:
    """The documents' access gate, answered as the rooms need it: who may still edit."""
    snapshots = await in_db_thread(document_access_snapshots)(users_by_document=users_by_document)
    return {
        document_id: Access(
            can_write={user: role.allows(Role.EDITOR) for user, role in snapshot.roles.items()},
            inactive=snapshot.inactive,
            generations=snapshot.generations,
        )
        for document_id, snapshot in snapshots.items()
    }


def _interest_ttl(check_seconds: float) -> float:
    """Interest is renewed on every periodic check: three missed renewals end it. Without
    periodic checks it is never renewed, so it holds until the room closes."""
    return 3 * check_seconds + 1 if check_seconds > 0 else 86_400.0


async def _create() -> Runtime:
    start_loop_lag_monitor()  # started at lifespan startup already, but daphne sends none
    store = DjangoUpdateStore()
    store.open_soon()
    registry = RoomRegistry(
        store=store,
        limits=RoomLimits(
            snapshot_every=settings.SNAPSHOT_EVERY,
            max_awareness_state=settings.WS_MAX_AWARENESS_BYTES,
            max_waiting=settings.ROOM_MAX_WAITING_UPDATES,
            max_document_bytes=settings.DOCUMENT_MAX_BYTES,
        ),
        idle_seconds=settings.ROOM_IDLE_SECONDS,
        check_seconds=settings.LOG_CHECK_SECONDS,
        access=room_access,
        metrics=PrometheusRoomMetrics(),
    )
    fanout = None
    layer = get_channel_layer()
    if layer is not None:
        fanout = LayerFanout(
            layer,
            registry.get,
            on_access=registry.access_changed,
            on_peer=registry.check_head_soon,
            interest_ttl=_interest_ttl(settings.LOG_CHECK_SECONDS),
        )
        await fanout.start()
        registry.fanout = fanout
    presence: LocalPresence
    if settings.REDIS_URL:
        presence = RedisPresence(
            settings.REPLICA_NAME,
            url=settings.REDIS_URL,
            prefix=settings.REDIS_PREFIX,
            ttl=settings.PRESENCE_TTL_SECONDS,
            heartbeat=settings.PRESENCE_HEARTBEAT_SECONDS,
        )
    else:
        presence = LocalPresence(settings.REPLICA_NAME)
    return Runtime(registry=registry, presence=presence, fanout=fanout)
