"""Reads of webhooks and their delivery logs; a webhook is visible to its owner only."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet

from backend.webhooks.models import Attempt, Delivery, Webhook


def _key(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def webhook_list(*, user: User) -> QuerySet[Webhook]:
    return Webhook.objects.filter(owner_id=user.pk).order_by("created_at", "id")


def webhook_get(*, user: User, webhook_id: Any) -> Webhook | None:
    """The user's webhook ``webhook_id``, or None (unknown, malformed or another's)."""
    key = _key(webhook_id)
    return None if key is None else webhook_list(user=user).filter(pk=key).first()


def delivery_list(*, webhook: Webhook) -> QuerySet[Delivery]:
    """Its deliveries, newest first, each with its attempts."""
    return (
        Delivery.objects.filter(webhook=webhook)
        .prefetch_related(Prefetch("attempt_log", queryset=Attempt.objects.order_by("started_at")))
        .order_by("-created_at", "id")
    )


def delivery_get(*, webhook: Webhook, delivery_id: Any) -> Delivery | None:
    key = _key(delivery_id)
    return None if key is None else Delivery.objects.filter(webhook=webhook, pk=key).first()
