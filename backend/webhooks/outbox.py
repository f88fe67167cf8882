"""The outbox's transactions: claim due deliveries under a lease, record what came of them.

A claim is ``SELECT ... FOR UPDATE SKIP LOCKED`` of due, unleased (or lease-expired) rows,
then a lease written and committed before any POST: replicas never claim the same row at
once, and a replica killed mid-delivery leaves its rows to whoever claims after the lease.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from backend.notifications.services import notify
from backend.notifications.types import NotificationType
from backend.webhooks.models import Attempt, Delivery, DeliveryState, Webhook


@dataclass(frozen=True)
class Claimed:
    """A delivery to send now, with what sending it needs."""

    id: uuid.UUID
    lease: uuid.UUID
    type: str
    created_at: datetime
    payload: dict[str, Any]
    url: str
    secrets: list[str]  # the current secret first
    webhook_id: uuid.UUID


@dataclass(frozen=True)
class Outcome:
    outcome: str  # metrics.OUTCOMES
    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    response_body: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "delivered"


def claim(*, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries of active webhooks to this process."""
    now = timezone.now()
    lease = uuid.uuid4()
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now, webhook__active=True)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .select_related("webhook")
            .order_by("next_attempt_at")[:limit]
        )
        if not due:
            return []
        until = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        Delivery.objects.filter(pk__in=[d.pk for d in due]).update(locked_until=until, lease=lease)
    return [
        Claimed(
            id=d.pk,
            lease=lease,
            type=d.type,
            created_at=d.created_at,
            payload=d.payload,
            url=d.webhook.url,
            secrets=_secrets(d.webhook, now),
            webhook_id=d.webhook_id,
        )
        for d in due
    ]


def _secrets(hook: Webhook, now: datetime) -> list[str]:
    keep_previous = (
        hook.previous_secret and hook.previous_secret_until and hook.previous_secret_until > now
    )
    return [hook.secret, hook.previous_secret] if keep_previous else [hook.secret]


def record(claimed: Claimed, outcome: Outcome) -> None:
    """Store the attempt; mark the delivery delivered, or schedule its retry, or fail it."""
    now = timezone.now()
    with transaction.atomic():
        Attempt.objects.create(
            delivery_id=claimed.id,
            started_at=outcome.started_at,
            duration_ms=outcome.duration_ms,
            outcome=outcome.outcome,
            status_code=outcome.status_code,
            response_body=outcome.response_body[:1024],
            error=outcome.error[:300],
        )
        delivery = Delivery.objects.select_for_update().filter(pk=claimed.id).first()
        if delivery is None:
            return  # its webhook was deleted meanwhile
        delivery.attempts += 1
        if outcome.ok:
            delivery.state = DeliveryState.DELIVERED
            delivery.delivered_at = now
            delivery.locked_until = delivery.lease = None
        elif delivery.lease == claimed.lease and delivery.state == DeliveryState.PENDING:
            retry_at = now + timedelta(seconds=backoff(delivery.attempts))
            if retry_at > delivery.give_up_at:
                delivery.state = DeliveryState.FAILED
            delivery.next_attempt_at = retry_at
            delivery.locked_until = delivery.lease = None
        delivery.save()
        _webhook_health(claimed.webhook_id, ok=outcome.ok, now=now)


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling from WEBHOOK_RETRY_BASE_SECONDS up to
    WEBHOOK_RETRY_MAX_DELAY_SECONDS, each between half and all of that ("equal jitter")."""
    ceiling: float = min(
        settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempts - 1, 30),
        settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS,
    )
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 (not a secret)


def _webhook_health(webhook_id: uuid.UUID, *, ok: bool, now: datetime) -> None:
    """Track since when a webhook has been failing; disable it (and tell its owner) past
    WEBHOOK_DISABLE_AFTER_SECONDS of nothing but failures."""
    hook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
    if hook is None:
        return
    if ok:
        if hook.failing_since is not None:
            Webhook.objects.filter(pk=webhook_id).update(failing_since=None)
        return
    if hook.failing_since is None:
        Webhook.objects.filter(pk=webhook_id).update(failing_since=now)
        return
    limit = timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    if hook.active and now - hook.failing_since >= limit:
        reason = f"every delivery failed for {int(limit.total_seconds())} s"
        Webhook.objects.filter(pk=webhook_id).update(active=False, disabled_reason=reason)
        notify(
            user_ids=[hook.owner_id],
            type=NotificationType.WEBHOOK_DISABLED,
            actor_id=None,
            document_id=hook.document_id,
            data={"webhook": str(hook.pk), "url": hook.url, "reason": reason},
        )


def queue_state() -> tuple[int, float]:
    """Pending deliveries of active webhooks, and the age in seconds of the oldest."""
    pending = Delivery.objects.filter(state=DeliveryState.PENDING, webhook__active=True)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return pending.count(), max(age, 0.0)


def prune(*, batch: int = 1000) -> bool:
    """Forget finished deliveries (delivered or failed) older than WEBHOOK_LOG_RETENTION_DAYS,
    with their attempts; at most ``batch`` a call. True when more may be due."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    old = Delivery.objects.filter(created_at__lt=cutoff).exclude(state=DeliveryState.PENDING)
    ids = list(old.values_list("pk", flat=True)[:batch])
    if ids:
        Delivery.objects.filter(pk__in=ids).delete()
    return len(ids) == batch
