"""Writing to inboxes: inside the caller's transaction, published once it commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backend.notifications import delivery
from backend.notifications.models import Inbox, Notification
from backend.notifications.types import NotificationType


def notify(
    *,
    user_ids: Iterable[int],
    type: NotificationType,
    actor_id: int | None,
    document_id: uuid.UUID | None = None,
    document_title: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str = "",
) -> list[Notification]:
    """Add one notification to each user's inbox, in the current transaction.

    With a ``dedupe_key``, a user who already holds a notification with that key gets no
    second one. Published to the users' live connections after the commit."""
    users = sorted(set(user_ids))
    if not users:
        return []
    with transaction.atomic():
        if dedupe_key:
            held = Notification.objects.filter(user_id__in=users, dedupe_key=dedupe_key)
            users = sorted(set(users) - set(held.values_list("user_id", flat=True)))
        heads = _lock_inboxes(users)
        made = Notification.objects.bulk_create(
            Notification(
                user_id=user_id,
                seq=heads[user_id] + 1,
                type=type.value,
                actor_id=actor_id,
                document_id=document_id,
                document_title=document_title,
                data=data or {},
                dedupe_key=dedupe_key,
            )
            for user_id in users
        )
        Inbox.objects.bulk_update(
            [Inbox(user_id=user_id, head=heads[user_id] + 1) for user_id in users], ["head"]
        )
        _prune(users)
    transaction.on_commit(lambda: delivery.publish(made))
    return made


def _lock_inboxes(user_ids: list[int]) -> dict[int, int]:
    """Each user's inbox head, locked (in user order, so writers cannot deadlock)."""
    Inbox.objects.bulk_create([Inbox(user_id=u) for u in user_ids], ignore_conflicts=True)
    locked = Inbox.objects.select_for_update().filter(user_id__in=user_ids).order_by("user_id")
    return dict(locked.values_list("user_id", "head"))


def _prune(user_ids: list[int]) -> None:
    """Keep each inbox within NOTIFICATIONS_RETENTION_DAYS and NOTIFICATIONS_MAX_PER_USER."""
    cutoff = timezone.now() - timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS)
    Notification.objects.filter(user_id__in=user_ids, created_at__lt=cutoff).delete()
    keep = settings.NOTIFICATIONS_MAX_PER_USER
    for user_id in user_ids:
        oldest_kept = (
            Notification.objects.filter(user_id=user_id)
            .order_by("-seq")
            .values_list("seq", flat=True)[keep - 1 : keep]
            .first()
        )
        if oldest_kept is not None:
            Notification.objects.filter(user_id=user_id, seq__lt=oldest_kept).delete()


def notifications_mark_read(*, user_id: int, ids: list[int] | None) -> int:
    """Mark the user's notifications ``ids`` (None: all) read; returns how many changed."""
    unread: QuerySet[Notification] = Notification.objects.filter(
        user_id=user_id, read_at__isnull=True
    )
    if ids is not None:
        unread = unread.filter(seq__in=ids)
    return unread.update(read_at=timezone.now())
