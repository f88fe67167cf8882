"""Webhooks, their outbox of deliveries, and the attempts made to deliver them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from backend.webhooks.signing import new_secret


class EventType(models.TextChoices):
    DOCUMENT_CHANGED = "document.changed", "The content changed (coalesced)"
    DOCUMENT_RENAMED = "document.renamed", "The document was renamed"
    DOCUMENT_DELETED = "document.deleted", "The document was deleted"
    MEMBER_ADDED = "member.added", "A member was added"
    MEMBER_ROLE_CHANGED = "member.role_changed", "A member's role changed"
    MEMBER_REMOVED = "member.removed", "A member was removed"


class Webhook(models.Model):
    """A URL told about one document's events, or those of every document of its owner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    # None: every document the owner owns. No foreign key: the document's deletion is an
    # event the webhook still has to deliver.
    document_id = models.UUIDField(null=True, blank=True)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)  # EventType values
    # HMAC key; shown once. The previous one still signs until ``previous_secret_until``.
    secret = models.CharField(max_length=100, default=new_secret)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    # Since when every attempt has failed (None: the last one succeeded).
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "document_id"], name="webhook_scope")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.url} ({self.document_id or 'account'})"


class ChangeCursor(models.Model):
    """The last update of a document a webhook has been told of (``document.changed``)."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="cursors")
    document_id = models.UUIDField()
    delivered_upto = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["webhook", "document_id"], name="cursor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} told of {self.document_id} up to {self.delivered_upto}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event for one webhook: the outbox row, written in the event's transaction.

    Its id is the event id the receiver sees, the same on every attempt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    type = models.CharField(max_length=32, choices=EventType.choices)
    document_id = models.UUIDField(null=True)
    payload = models.JSONField()  # the body's ``data``
    created_at = models.DateTimeField()
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    give_up_at = models.DateTimeField()
    # A replica's claim: until then nobody else sends it; expired, anyone may.
    locked_until = models.DateTimeField(null=True, blank=True)
    lease = models.UUIDField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="delivery_due",
            ),
            models.Index(fields=["webhook", "-created_at"], name="delivery_log"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.state})"


class Attempt(models.Model):
    """One POST of a delivery and what came of it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    outcome = models.CharField(max_length=24)  # metrics.OUTCOMES
    status_code = models.PositiveIntegerField(null=True)
    response_body = models.TextField(blank=True, default="")  # the first 1 KiB
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.started_at}: {self.outcome}"
