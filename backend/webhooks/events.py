"""Writing events to the outbox: one delivery per matching webhook, in the caller's
transaction, and a nudge to the deliverers once it commits: this process's directly, every
other process's through PostgreSQL's ``NOTIFY`` (which PostgreSQL sends at commit)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q

from backend.webhooks.models import Delivery, EventType, Webhook

# Called after a commit that queued deliveries (the in-process deliverer listens).
_wakers: set[Callable[[], None]] = set()


def add_waker(waker: Callable[[], None]) -> None:
    _wakers.add(waker)


def remove_waker(waker: Callable[[], None]) -> None:
    _wakers.discard(waker)


CHANNEL = "tandem_webhooks"  # the NOTIFY channel deliverers LISTEN on


def wake() -> None:
    for waker in list(_wakers):
        waker()


def announce() -> None:
    """Wake every deliverer once the current transaction commits (polling is the backstop:
    a notification missed while a listener reconnects costs at most a poll interval)."""
    transaction.on_commit(wake)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")


def subscribed(*, owner_id: int, document_id: uuid.UUID, type: EventType) -> list[Webhook]:
    """The active webhooks of ``owner_id`` on this document or on all their documents."""
    hooks = Webhook.objects.filter(active=True, owner_id=owner_id).filter(
        Q(document_id=document_id) | Q(document_id__isnull=True)
    )
    return [hook for hook in hooks if type.value in hook.events]


def person(user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    username = User.objects.filter(pk=user_id).values_list("username", flat=True).first()
    return {"id": user_id, "username": username}


def enqueue(
    *,
    hooks: Iterable[Webhook],
    type: EventType,
    document_id: uuid.UUID,
    payload: dict[str, Any],
    at: datetime,
) -> list[Delivery]:
    """Queue one delivery of the event per webhook, due now (in the current transaction)."""
    give_up_at = at + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
    made = Delivery.objects.bulk_create(
        Delivery(
            webhook=hook,
            type=type.value,
            document_id=document_id,
            payload=payload,
            created_at=at,
            next_attempt_at=at,
            give_up_at=give_up_at,
        )
        for hook in hooks
    )
    if made:
        announce()
    return made
