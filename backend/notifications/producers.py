"""What makes a notification: documents' events, and mentions committed to the update log."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.contrib.auth.models import User

from backend.collab.signals import Mention
from backend.documents.models import Document
from backend.documents.permissions import document_access_snapshots
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


def on_mentions_committed(
    *,
    document_id: uuid.UUID,
    author_id: int | None,
    mentions: tuple[Mention, ...],
    **_: Any,
) -> None:
    """Tell each mentioned member, once per (document, member, author, paragraph); tell the
    author of a mention that reached nobody (no such user, or no access). In the update's
    transaction. Nobody is told of mentioning themselves."""
    title = Document.objects.filter(pk=document_id).values_list("title", flat=True).first()
    if title is None:
        return
    usernames = {mention.username for mention in mentions}
    users = dict(User.objects.filter(username__in=usernames).values_list("username", "pk"))
    (access,) = document_access_snapshots(
        users_by_document={document_id: set(users.values())}
    ).values()
    for mention in mentions:
        user_id = users.get(mention.username)
        if user_id is not None and user_id == author_id:
            continue
        if user_id is not None and user_id in access.roles:
            notify(
                user_ids=[user_id],
                type=NotificationType.MENTION,
                actor_id=author_id,
                document_id=document_id,
                document_title=title,
                data={"text": mention.text},
                dedupe_key=mention_key(document_id, author_id, mention.paragraph, user_id),
            )
        elif author_id is not None:
            notify(
                user_ids=[author_id],
                type=NotificationType.MENTION_UNDELIVERED,
                actor_id=author_id,
                document_id=document_id,
                document_title=title,
                data={"username": mention.username},
                dedupe_key=mention_key(document_id, author_id, mention.paragraph, mention.username),
            )


def mention_key(
    document_id: uuid.UUID, author_id: int | None, paragraph: str, user: int | str
) -> str:
    """``mention:<document>:<author>:<paragraph>:<user>``; hashed past the column's 200."""
    key = f"mention:{document_id}:{author_id}:{paragraph}:{user}"
    if len(key) <= 200:
        return key
    return f"mention:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
