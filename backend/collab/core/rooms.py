"""The rooms of one process: at most one per document, loaded once, unloaded when idle."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from backend.collab.core.ports import AccessCheck, RoomMetrics, Subscriptions, UpdateStore
from backend.collab.core.room import Room, RoomLimits

logger = logging.getLogger(__name__)


class RoomRegistry:
    """Hands out the room of a document, creating it on first use.

    The room's future is registered before the first ``await``, so two connections opening
    the same document at once share one room. An idle room is unloaded after
    ``idle_seconds`` and only after its final flush; a connection arriving meanwhile waits
    for the unload and then gets a freshly loaded room.
    """

    def __init__(
        self,
        *,
        store: UpdateStore,
        fanout: Subscriptions | None = None,
        limits: RoomLimits | None = None,
        idle_seconds: float = 5.0,
        check_seconds: float = 3.0,
        access: AccessCheck | None = None,
        metrics: RoomMetrics | None = None,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.limits = limits or RoomLimits()
        self.idle_seconds = idle_seconds
        self.check_seconds = check_seconds
        self.access = access
        self.metrics = metrics or RoomMetrics()
        self._rooms: dict[uuid.UUID, asyncio.Future[Room]] = {}
        self._unloading: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._idle_timers: dict[uuid.UUID, asyncio.TimerHandle] = {}
        self._checker: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._heads_due: set[uuid.UUID] = set()  # rooms to re-read the log's head of soon
        self._check_after_load: set[uuid.UUID] = set()

    def get(self, document_id: uuid.UUID) -> Room | None:
        """The loaded room of a document, if this process has one."""
        future = self._rooms.get(document_id)
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    @property
    def rooms(self) -> list[Room]:
        return [room for key in list(self._rooms) if (room := self.get(key)) is not None]

    async def acquire(self, document_id: uuid.UUID) -> Room:
        while True:
            unloading = self._unloading.get(document_id)
            if unloading is not None:
                await asyncio.shield(unloading)
                continue
            timer = self._idle_timers.pop(document_id, None)
            if timer is not None:
                timer.cancel()
            future = self._rooms.get(document_id)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._rooms[document_id] = future
                await self._load(document_id, future)
            room = await asyncio.shield(future)
            if not room.dead:
                self._ensure_checker()
                return room

    async def _load(self, document_id: uuid.UUID, future: asyncio.Future[Room]) -> None:
        room = Room(
            document_id,
            store=self.store,
            fanout=self.fanout,
            limits=self.limits,
            on_dead=self._forget,
            metrics=self.metrics,
        )
        try:
            if self.fanout is not None:
                await self.fanout.subscribe(document_id)
            await room.load()
        except BaseException as exc:
            self._rooms.pop(document_id, None)
            self._check_after_load.discard(document_id)
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # marked retrieved; every waiter re-raises it
            raise
        future.set_result(room)
        self.metrics.room_opened()
        if document_id in self._check_after_load:
            self._check_after_load.discard(document_id)
            self.check_head_soon(document_id)

    def release(self, room: Room) -> None:
        """Called after a connection left; schedules the unload of an empty room."""
        if room.connections or room.dead or self.get(room.document_id) is not room:
            return
        loop = asyncio.get_running_loop()
        timer = self._idle_timers.pop(room.document_id, None)
        if timer is not None:
            timer.cancel()
        self._idle_timers[room.document_id] = loop.call_later(
            self.idle_seconds, self._start_unload, room
        )

    def _start_unload(self, room: Room) -> None:
        self._idle_timers.pop(room.document_id, None)
        if room.connections or self.get(room.document_id) is not room:
            return
        task = asyncio.create_task(self._unload(room), name=f"unload {room.document_id}")
        self._unloading[room.document_id] = task

    async def _unload(self, room: Room) -> None:
        try:
            await room.close()
        except Exception:
            logger.exception("final flush of room %s failed", room.document_id)
        finally:
            if self._rooms.pop(room.document_id, None) is not None:
                self.metrics.room_closed()
            self._unloading.pop(room.document_id, None)
            if self.fanout is not None:
                await self.fanout.unsubscribe(room.document_id)

    def _forget(self, room: Room) -> None:
        if self.get(room.document_id) is room:
            self._rooms.pop(room.document_id, None)
            self.metrics.room_closed()

    async def close(self) -> None:
        """Flush and unload every room (process shutdown)."""
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        await asyncio.gather(*(self._unload(room) for room in self.rooms))
        if self._checker is not None:
            self._checker.cancel()
        await self.store.close()

    def _ensure_checker(self) -> None:
        if self.check_seconds > 0 and (self._checker is None or self._checker.done()):
            self._checker = asyncio.create_task(self._check_forever(), name="room log check")

    async def _check_forever(self) -> None:
        """Every ``check_seconds``: repair gaps the channel layer left, re-check every open
        connection's access (revocations and role changes apply live), and re-join groups
        Redis may have lost. A few queries for all rooms together, not per room."""
        while self._rooms:
            await asyncio.sleep(self.check_seconds)
            await self._guarded(self._check_rooms)

    async def _check_rooms(self) -> None:
        rooms = self.rooms
        heads = await self.store.heads([room.document_id for room in rooms])
        for room in rooms:
            room.observe_head(heads.get(room.document_id, room.head))
            room.expire_awareness()
        await self._check_access(rooms)
        if self.fanout is not None:
            for room in rooms:
                # Only rooms still loaded: one unloaded while the queries above ran has left
                # its group, and re-joining would leave the group key behind in Redis.
                if self.get(room.document_id) is room and room.document_id not in self._unloading:
                    await self.fanout.subscribe(room.document_id)

    def check_head_soon(self, document_id: uuid.UUID) -> None:
        """Re-read the log's head of a document's room now rather than at the next periodic
        check: another replica has just started publishing its updates here, and what it
        committed before is in the log only. A room still loading checks once loaded."""
        future = self._rooms.get(document_id)
        if future is None:
            return
        if not future.done():
            self._check_after_load.add(document_id)
            return
        if not self._heads_due:
            self._track(asyncio.create_task(self._guarded(self._check_due_heads)))
        self._heads_due.add(document_id)

    async def _check_due_heads(self) -> None:
        due, self._heads_due = self._heads_due, set()
        rooms = [room for document_id in due if (room := self.get(document_id)) is not None]
        heads = await self.store.heads([room.document_id for room in rooms])
        for room in rooms:
            room.observe_head(heads.get(room.document_id, room.head))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def access_changed(self, document_id: uuid.UUID | None, user_ids: frozenset[int]) -> None:
        """Some users' access changed (to ``document_id``, or to every document): re-check
        their open connections now rather than at the next periodic check."""
        rooms = [
            room
            for room in self.rooms
            if (document_id is None or room.document_id == document_id) and room.user_ids & user_ids
        ]
        if rooms and self.access is not None:
            self._track(asyncio.create_task(self._guarded(lambda: self._check_access(rooms))))

    async def _check_access(self, rooms: list[Room]) -> None:
        users = {room.document_id: room.user_ids for room in rooms if room.connections}
        if self.access is None or not users:
            return
        as_of = time.monotonic()
        access = await self.access(users_by_document=users)
        for room in rooms:
            if room.document_id in access:
                room.apply_access(access[room.document_id], as_of=as_of)

    async def _guarded(self, check: Callable[[], Awaitable[None]]) -> None:
        try:
            await check()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room log check failed; retrying on the next tick")
