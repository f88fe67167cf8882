"""From a committed notification to its user's live connections on every replica.

The channel layer group ``tandem.user.<id>`` is the fast path and at-most-once; the inbox
in the database is the record, and live connections catch up from it by number."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from backend.notifications.models import Notification
from backend.notifications.serializers import NotificationOutput

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"tandem.user.{user_id}"


class NotificationMessage(TypedDict):
    """``notification.created`` on ``user_group(user)``."""

    type: Literal["notification.created"]
    user: int
    notification: dict[str, Any]  # NotificationOutput


def payloads(notifications: Sequence[Notification]) -> list[dict[str, Any]]:
    """The notifications as the API shows them (their actors read in one query)."""
    actors = {n.actor_id for n in notifications if n.actor_id is not None}
    users = User.objects.in_bulk(actors) if actors else {}
    for notification in notifications:
        if notification.actor_id is not None:
            notification.actor = users.get(notification.actor_id)
    return [dict(NotificationOutput(n).data) for n in notifications]


def publish(notifications: Sequence[Notification]) -> None:
    """Send committed notifications to their users' groups; a failure only delays them."""
    layer = get_channel_layer()
    if layer is None or not notifications:
        return
    for notification, payload in zip(notifications, payloads(notifications), strict=True):
        message: NotificationMessage = {
            "type": "notification.created",
            "user": notification.user_id,
            "notification": payload,
        }
        try:
            async_to_sync(layer.group_send)(user_group(notification.user_id), dict(message))
        except Exception:
            logger.exception(
                "could not publish notification %s of user %s; live connections catch up "
                "from the inbox",
                notification.seq,
                notification.user_id,
            )
