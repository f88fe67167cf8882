"""What makes a notification: documents' events (mentions come from collab's update log)."""

from __future__ import annotations

from typing import Any

from backend.documents.signals import DocumentEvent
from backend.notifications.services import notify
from backend.notifications.types import NotificationType

_TYPES = {
    "shared": NotificationType.DOCUMENT_SHARED,
    "role_changed": NotificationType.ROLE_CHANGED,
    "removed": NotificationType.REMOVED,
    "renamed": NotificationType.DOCUMENT_RENAMED,
    "deleted": NotificationType.DOCUMENT_DELETED,
}


def on_document_changed(*, event: DocumentEvent, **_: Any) -> None:
    """Tell everyone the change concerns but the one who made it, in its transaction."""
    data: dict[str, Any] = {}
    if event.role is not None:
        data["role"] = event.role
    if event.previous_title is not None:
        data["previous_title"] = event.previous_title
    notify(
        user_ids=event.user_ids - {event.actor_id} if event.actor_id else event.user_ids,
        type=_TYPES[event.kind],
        actor_id=event.actor_id,
        document_id=event.document_id,
        document_title=event.title,
        data=data,
    )
