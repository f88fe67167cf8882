"""The hub without a channel layer: what it does when live messages are lost, late,
duplicated or arrive while a connection is still replaying."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from backend.notifications.delivery import payloads
from backend.notifications.hub import Listener, NotificationHub, Payload
from backend.notifications.services import notify
from backend.notifications.types import NotificationType
from tests.support.factories import make_user
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.usefixtures("transactional_db")


def _notify_sync(user_id: int, count: int) -> list[dict[str, Any]]:
    """``count`` notifications for the user, as the messages ``delivery.publish`` sends."""
    made = [
        notify(user_ids=[user_id], type=NotificationType.DOCUMENT_RENAMED, actor_id=None)[0]
        for _ in range(count)
    ]
    return [
        {"type": "notification.created", "user": user_id, "notification": payload}
        for payload in payloads(made)
    ]


async def _live(hub: NotificationHub, user_id: int) -> list[Payload]:
    """What a connection opened now (without ``after``) is sent from then on."""
    got: list[Payload] = []
    listener = Listener(user_id, got.append)
    opening = await hub.open(listener, after=None)
    hub.go_live(listener, opening.cursor)
    return got


def _ids(got: list[Payload]) -> list[int]:
    return [int(payload["id"]) for payload in got]


@pytest.fixture(autouse=True)
async def _close_connections() -> AsyncIterator[None]:
    yield
    # The hub's queries ran in asgiref's thread: close its connection there.
    await sync_to_async(connections.close_all)()


async def test_a_lost_message_is_fetched_and_a_late_one_dropped(
    db_call: Callable[..., Any],
) -> None:
    user = await db_call(make_user)
    hub = NotificationHub(None, check_seconds=3600)
    got = await _live(hub, user.pk)
    one, two, three = await db_call(_notify_sync, user.pk, 3)
    hub.dispatch(one)
    hub.dispatch(three)  # two was lost: a gap
    await wait_until_async(lambda: _ids(got) == [1, 2, 3], what=lambda: _ids(got))
    hub.dispatch(two)  # late, and a duplicate now
    hub.dispatch(three)
    await asyncio.sleep(0.1)
    assert _ids(got) == [1, 2, 3]


async def test_the_periodic_check_finds_what_no_message_announced(
    db_call: Callable[..., Any],
) -> None:
    user, other = await db_call(make_user), await db_call(make_user)
    hub = NotificationHub(None, check_seconds=3600)
    got, others = await _live(hub, user.pk), await _live(hub, other.pk)
    await db_call(_notify_sync, user.pk, 2)  # every message lost
    await hub.check()
    await wait_until_async(lambda: _ids(got) == [1, 2], what=lambda: _ids(got))
    assert others == []


async def test_live_messages_wait_for_the_replay_and_are_not_repeated(
    db_call: Callable[..., Any],
) -> None:
    user = await db_call(make_user)
    hub = NotificationHub(None, check_seconds=3600)
    messages = await db_call(_notify_sync, user.pk, 2)
    got: list[Payload] = []
    listener = Listener(user.pk, got.append)
    opening = await hub.open(listener, after=0)
    for message in messages:  # arrive while the connection still sends its replay
        hub.dispatch(message)
    (later,) = await db_call(_notify_sync, user.pk, 1)
    hub.dispatch(later)
    assert got == [], "nothing live before the replay is out"
    got += opening.replay
    hub.go_live(listener, opening.cursor)
    assert _ids(got) == [1, 2, 3]


async def test_the_last_listener_leaving_forgets_the_user(db_call: Callable[..., Any]) -> None:
    user = await db_call(make_user)
    hub = NotificationHub(None, check_seconds=3600)
    first, second = Listener(user.pk, print), Listener(user.pk, print)
    await hub.open(first, after=None)
    await hub.open(second, after=None)
    hub.close(first)
    assert hub.listeners == 1
    hub.close(second)
    await wait_until_async(lambda: user.pk not in hub._users, what="the user forgotten")
