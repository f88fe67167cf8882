"""The kinds of notification: the one place that defines them and what their ``data`` holds."""

from __future__ import annotations

from django.db import models


class NotificationType(models.TextChoices):
    DOCUMENT_SHARED = "document.shared", "A document was shared with you"  # data: role
    ROLE_CHANGED = "member.role_changed", "Your role changed"  # data: role
    REMOVED = "member.removed", "You were removed from a document"  # data: {}
    DOCUMENT_RENAMED = "document.renamed", "A document was renamed"  # data: previous_title
    DOCUMENT_DELETED = "document.deleted", "A document was deleted"  # data: {}
    MENTION = "mention", "You were mentioned"  # data: text (the paragraph)
    # To the author of a mention of someone who is no member: nobody was told.
    MENTION_UNDELIVERED = "mention.undelivered", "A mention reached nobody"  # data: username
    WEBHOOK_DISABLED = "webhook.disabled", "A webhook was disabled"  # data: webhook, url, reason


DATA_FIELDS: dict[str, dict[str, str]] = {
    NotificationType.DOCUMENT_SHARED: {"role": "the role you were given: editor or viewer"},
    NotificationType.ROLE_CHANGED: {"role": "your new role: editor or viewer"},
    NotificationType.REMOVED: {},
    NotificationType.DOCUMENT_RENAMED: {"previous_title": "the title before the rename"},
    NotificationType.DOCUMENT_DELETED: {},
    NotificationType.MENTION: {"text": "the paragraph that mentions you, as plain text"},
    NotificationType.MENTION_UNDELIVERED: {"username": "who was mentioned but is no member"},
    NotificationType.WEBHOOK_DISABLED: {"webhook": "its id", "url": "its URL", "reason": "why"},
}
