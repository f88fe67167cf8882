"""Each user's durable inbox: notifications numbered 1, 2, 3... per user, in commit order."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.notifications.types import NotificationType


class Inbox(models.Model):
    """A user's last notification number. Taken under this row's lock by the transaction
    that adds notifications, so numbers are gap-free and commit in order, as a document's
    update log is: a client that has seen ``n`` has missed exactly what is after ``n``."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    head = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"inbox of {self.user_id} at {self.head}"


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    seq = models.BigIntegerField()  # the user's notification number: the API's ``id``
    type = models.CharField(max_length=32, choices=NotificationType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The document's id and title when it happened; no foreign key: a deletion's notice
    # outlives the document.
    document_id = models.UUIDField(null=True)
    document_title = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True)
    # Mentions: one notice per mention however often it is removed and added again.
    dedupe_key = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "seq"], name="notification_seq_unique"),
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_dedupe_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["user", "seq"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} for {self.user_id}"
