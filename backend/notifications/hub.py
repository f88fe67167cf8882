"""This process's live notification connections, fed by one channel-layer channel.

The hub holds one channel per process and one membership of ``tandem.user.<id>`` per user
with a local listener (joined when the first arrives, left when the last goes). Each
``notification.created`` it receives goes to that user's listeners. A listener keeps the
number of the last notification it delivered (its cursor): numbers are gap-free per user,
so a message at or below the cursor is a duplicate and is dropped, and one past
``cursor + 1`` reveals a gap the hub fills from the inbox. Every LOG_CHECK_SECONDS one query
reads the inbox heads of all local users and repairs what the at-most-once layer lost (and
ends the connections of revoked tokens and deactivated accounts: at once when collab's
``access.changed`` for the account arrives, the hub being in that group too); the groups are
re-joined now and then, because a restarted Redis forgets them.

Transport-free: a connection hands the hub a ``deliver`` callback that must not block.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth.models import User

from backend.collab.edge import access_events
from backend.collab.edge.fanout import receive_forever
from backend.collab.storage.db import in_db_thread
from backend.documents.tokens import token_generations
from backend.notifications.delivery import user_group
from backend.notifications.models import Inbox
from backend.notifications.selectors import notifications_after, unread_count
from backend.notifications.serializers import NotificationOutput

logger = logging.getLogger(__name__)

Payload = dict[str, Any]  # a NotificationOutput
REJOIN_SECONDS = 10.0
READ_PAGE = 1000  # inbox rows per query of a replay or a repair


class Listener:
    """One live connection's place in the hub: buffers until started, then delivers each
    notification once, in number order."""

    def __init__(
        self,
        user_id: int,
        deliver: Callable[[Payload], None],
        *,
        token_generation: int = 0,
        revoked: Callable[[], None] = lambda: None,
    ) -> None:
        self.user_id = user_id
        self.cursor: int | None = None  # None: still replaying, live messages wait
        self.token_generation = token_generation
        self.revoked = revoked  # called when the user logged out everywhere
        self._deliver = deliver
        self._waiting: list[Payload] = []

    @property
    def started(self) -> bool:
        return self.cursor is not None

    def offer(self, payload: Payload, *, from_inbox: bool = False) -> bool:
        """Deliver ``payload`` if it is the next one; False when it reveals a gap.

        What comes from the inbox is the record: a hole there is a pruned row, not a gap."""
        if self.cursor is None:
            self._waiting.append(payload)
            return True
        number = int(payload["id"])
        if number <= self.cursor:
            return True
        if number > self.cursor + 1 and not from_inbox:
            return False
        self.cursor = number
        self._deliver(payload)
        return True

    def start(self, cursor: int) -> bool:
        """Go live after a replay up to ``cursor``; False when what waited reveals a gap."""
        self.cursor = cursor
        waiting, self._waiting = self._waiting, []
        waiting.sort(key=lambda payload: int(payload["id"]))
        return all([self.offer(payload) for payload in waiting])


@dataclass
class Opening:
    """What a connection sends before going live: the replay, and its ``ready`` figures."""

    replay: list[Payload]
    cursor: int  # the last number the client will have seen: ``ready``'s head
    unread: int


def _opening_sync(user_id: int, after: int | None) -> Opening:
    # The head first: rows read after it may only be newer, never missing.
    head = Inbox.objects.filter(user_id=user_id).values_list("head", flat=True).first() or 0
    replay: list[Payload] = []
    if after is not None:
        replay = _payloads_after(user_id, after)
    cursor = int(replay[-1]["id"]) if replay else min(head, after if after is not None else head)
    return Opening(replay=replay, cursor=cursor, unread=unread_count(user_id=user_id))


def _payloads_after(user_id: int, seq: int) -> list[Payload]:
    """Every notification of the user after ``seq``, oldest first, as the API shows them."""
    payloads: list[Payload] = []
    while True:
        rows = notifications_after(user_id=user_id, seq=seq, limit=READ_PAGE)
        payloads += [dict(NotificationOutput(row).data) for row in rows]
        if len(rows) < READ_PAGE:
            return payloads
        seq = rows[-1].seq


@dataclass(frozen=True)
class _Heads:
    heads: dict[int, int]  # inbox heads
    generations: dict[int, int]  # token generations
    inactive: frozenset[int]  # deactivated or deleted accounts


def _heads_sync(user_ids: list[int]) -> _Heads:
    heads = dict(Inbox.objects.filter(user_id__in=user_ids).values_list("user_id", "head"))
    active = User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True)
    return _Heads(heads, token_generations(set(user_ids)), frozenset(user_ids) - set(active))


_opening = in_db_thread(_opening_sync)
_after = in_db_thread(_payloads_after)
_heads = in_db_thread(_heads_sync)


@dataclass
class _User:
    listeners: set[Listener] = field(default_factory=set)
    joined: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serializes group add/discard
    repairing: asyncio.Task[None] | None = None
    repair_again: bool = False


class NotificationHub:
    """Per process: the channel, the group memberships, and the dispatch to listeners."""

    def __init__(self, layer: BaseChannelLayer | None, *, check_seconds: float) -> None:
        self.layer = layer
        self.check_seconds = check_seconds
        self.channel = ""
        self._users: defaultdict[int, _User] = defaultdict(_User)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._check_loop(), name="hub catch-up"))
        if self.layer is not None:
            self.channel = await self.layer.new_channel()
            await self._join_access_group()
            self._tasks += [
                asyncio.create_task(self._receive_loop(), name="hub receiver"),
                asyncio.create_task(self._rejoin_loop(), name="hub re-join"),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def listeners(self) -> int:
        return sum(len(user.listeners) for user in self._users.values())

    async def open(self, listener: Listener, *, after: int | None) -> Opening:
        """Register ``listener`` (live messages wait), then read what it is to replay.

        The group is joined before the inbox is read: a notification committed after the
        read is published after it, so it reaches the listener live; one committed before is
        in the read. The caller sends the opening, then calls ``go_live``."""
        user = self._users[listener.user_id]
        user.listeners.add(listener)
        await self._sync_membership(listener.user_id)
        return await _opening(listener.user_id, after)

    def go_live(self, listener: Listener, cursor: int) -> None:
        if not listener.start(cursor):
            self.repair(listener.user_id)

    def close(self, listener: Listener) -> None:
        user = self._users.get(listener.user_id)
        if user is None or listener not in user.listeners:
            return
        user.listeners.discard(listener)
        if not user.listeners:
            task = asyncio.ensure_future(self._sync_membership(listener.user_id))
            _background.add(task)
            task.add_done_callback(_background.discard)

    # --- group membership ----------------------------------------------------------------

    async def _sync_membership(self, user_id: int) -> None:
        """Join the user's group if they have listeners here, leave it if not."""
        user = self._users[user_id]
        async with user.lock:
            wanted = bool(user.listeners)
            if wanted and not user.joined:
                user.joined = await self._group("group_add", user_id)
            elif not wanted and user.joined:
                await self._group("group_discard", user_id)
                user.joined = False
            if not user.listeners and not user.joined and self._users.get(user_id) is user:
                del self._users[user_id]

    async def _join_access_group(self) -> bool:
        """Hear ``access.changed`` (collab's access_events): a user logged out everywhere or
        was deactivated, and their connections here end at once."""
        assert self.layer is not None
        try:
            await self.layer.group_add(access_events.ACCESS_GROUP, self.channel)
        except Exception:
            logger.exception("could not join the access group; the periodic check covers")
            return False
        return True

    async def _group(self, operation: str, user_id: int) -> bool:
        if self.layer is None:
            return True
        try:
            await getattr(self.layer, operation)(user_group(user_id), self.channel)
        except Exception:
            logger.exception(
                "could not %s for user %s; the periodic catch-up covers", operation, user_id
            )
            return False
        return True

    # --- live messages -------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        assert self.layer is not None
        await receive_forever(self.layer, self.channel, self.dispatch)

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand a ``notification.created`` message to its user's local listeners; on an
        account-wide ``access.changed``, re-check those users' connections now."""
        if message.get("type") == "access.changed":
            self._access_changed(message)
            return
        if message.get("type") != "notification.created":
            return
        try:
            user_id = int(message["user"])
            payload = dict(message["notification"])
            int(payload["id"])
        except (KeyError, TypeError, ValueError):
            logger.warning("dropped a malformed notification.created message")
            return
        user = self._users.get(user_id)
        if user is None:
            return
        gap = False
        for listener in list(user.listeners):
            gap |= not listener.offer(payload)
        if gap:
            self.repair(user_id)

    def _access_changed(self, message: dict[str, Any]) -> None:
        parsed = access_events.parse(message)
        if parsed is None:
            return
        document_id, user_ids = parsed
        local = user_ids & {uid for uid, user in self._users.items() if user.listeners}
        if document_id is None and local:  # a document's sharing is no business of the inbox
            task = asyncio.ensure_future(self._guarded_check(local))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _guarded_check(self, user_ids: frozenset[int]) -> None:
        try:
            await self.check(user_ids)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("re-checking notification connections failed; retrying later")

    # --- repair --------------------------------------------------------------------------

    def repair(self, user_id: int) -> None:
        """Read the user's notifications past their listeners' cursors from the inbox."""
        user = self._users.get(user_id)
        if user is None:
            return
        if user.repairing is not None and not user.repairing.done():
            user.repair_again = True
            return
        user.repairing = asyncio.create_task(self._repair(user_id, user))

    async def _repair(self, user_id: int, user: _User) -> None:
        while True:
            user.repair_again = False
            cursors = [lst.cursor for lst in user.listeners if lst.cursor is not None]
            if not cursors:
                return
            try:
                payloads = await _after(user_id, min(cursors))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not read the inbox of user %s; retrying later", user_id)
                return
            if payloads:
                logger.info("repaired %d notifications of user %s", len(payloads), user_id)
            for payload in payloads:
                for listener in list(user.listeners):
                    listener.offer(payload, from_inbox=True)
            if not user.repair_again:
                return

    async def _check_loop(self) -> None:
        """Every ``check_seconds``: compare the local users' inbox heads with their cursors
        (one query) and repair the behind."""
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the notification catch-up failed; retrying")

    async def _rejoin_loop(self) -> None:
        """Re-join every group now and then: a restarted Redis forgets them. After a failure
        (the first command on a connection Redis dropped fails), again a second later."""
        wait = REJOIN_SECONDS
        while True:
            await asyncio.sleep(wait)
            wait = REJOIN_SECONDS if await self.rejoin() else 1.0

    async def check(self, only: frozenset[int] | None = None) -> None:
        """Repair the users whose inbox is ahead of a listener; end the connections of
        revoked tokens and deactivated accounts. All local users, or ``only`` these."""
        users = {
            uid: u
            for uid, u in self._users.items()
            if u.listeners and (only is None or uid in only)
        }
        if not users:
            return
        found = await _heads(sorted(users))
        for user_id, user in users.items():
            for listener in list(user.listeners):
                stale = listener.token_generation != found.generations.get(user_id, 0)
                if stale or user_id in found.inactive:
                    listener.revoked()
            cursors = [lst.cursor for lst in user.listeners if lst.cursor is not None]
            if cursors and found.heads.get(user_id, 0) > min(cursors):
                self.repair(user_id)

    async def rejoin(self) -> bool:
        """Join the group of every user with a listener here, and the access group; False
        if any join failed."""
        done = self.layer is None or await self._join_access_group()
        for user_id, user in list(self._users.items()):
            if user.listeners:
                joined = await self._group("group_add", user_id)
                user.joined |= joined
                done &= joined
        return done


_background: set[asyncio.Future[None]] = set()
_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[NotificationHub]] = (
    weakref.WeakKeyDictionary()
)


async def get_hub() -> NotificationHub:
    """The hub of the running event loop, started on first use."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        future = _hubs[loop] = loop.create_future()
        try:
            hub = NotificationHub(get_channel_layer(), check_seconds=settings.LOG_CHECK_SECONDS)
            await hub.start()
            future.set_result(hub)
        except BaseException as exc:
            del _hubs[loop]  # the next connection tries again
            future.set_exception(exc)
            future.exception()
            raise
    return await _hubs[loop]
