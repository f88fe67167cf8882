"""Reading inboxes."""

from __future__ import annotations

from django.db.models import QuerySet

from backend.notifications.models import Notification


def notification_list(*, user_id: int, unread: bool = False) -> QuerySet[Notification]:
    """The user's notifications, newest first."""
    rows = Notification.objects.filter(user_id=user_id).select_related("actor")
    if unread:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by("-seq")


def notifications_after(*, user_id: int, seq: int, limit: int = 1000) -> list[Notification]:
    """The user's notifications numbered after ``seq``, oldest first (a replay)."""
    rows = Notification.objects.filter(user_id=user_id, seq__gt=seq).select_related("actor")
    return list(rows.order_by("seq")[:limit])


def unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
