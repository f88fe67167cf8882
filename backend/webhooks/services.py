"""Writes to webhooks: register, change, rotate the secret, delete, redeliver."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from backend.documents.errors import InvalidRequest
from backend.documents.models import Document
from backend.webhooks.addresses import AddressRefused, resolve_target
from backend.webhooks.events import announce
from backend.webhooks.models import ChangeCursor, Delivery, DeliveryState, EventType, Webhook
from backend.webhooks.signing import new_secret


def _check_url(url: str) -> None:
    try:
        resolve_target(url)
    except AddressRefused as exc:
        raise InvalidRequest(str(exc), field="url") from None


def _check_events(events: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    if not chosen or any(event not in EventType.values for event in chosen):
        raise InvalidRequest(f"Choose events among {', '.join(EventType.values)}.", field="events")
    return chosen


@transaction.atomic
def webhook_create(
    *, owner: User, url: str, events: list[str], document: Document | None = None
) -> Webhook:
    """Register a webhook on ``document`` (the caller owns it) or on all the owner's
    documents; ``document.changed`` reports updates committed from now on."""
    _check_url(url)
    hook = Webhook.objects.create(
        owner=owner,
        document_id=None if document is None else document.pk,
        url=url,
        events=_check_events(events),
        secret=new_secret(),
    )
    webhook_start_cursors(hook)
    return hook


def webhook_start_cursors(hook: Webhook) -> None:
    """Reset ``document.changed`` reporting to each document's head now (documents created
    later start at 0: their whole history is new)."""
    ChangeCursor.objects.filter(webhook=hook).delete()
    documents = Document.objects.filter(owner_id=hook.owner_id)
    if hook.document_id is not None:
        documents = documents.filter(pk=hook.document_id)
    ChangeCursor.objects.bulk_create(
        ChangeCursor(webhook=hook, document_id=pk, delivered_upto=head)
        for pk, head in documents.values_list("pk", "head_seq")
    )


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change the URL, the events, or switch it on and off (on again: failures forgotten)."""
    hook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    reporting_changes = hook.active and EventType.DOCUMENT_CHANGED in hook.events
    if url is not None and url != hook.url:
        _check_url(url)
        hook.url = url
    if events is not None:
        hook.events = _check_events(events)
    if active is not None and active != hook.active:
        hook.active = active
        hook.failing_since = None
        hook.disabled_reason = "" if active else "disabled by its owner"
    hook.save()
    if hook.active and EventType.DOCUMENT_CHANGED in hook.events and not reporting_changes:
        webhook_start_cursors(hook)  # no report of what happened while it was not listening
    if hook.active:
        announce()
    return hook


@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook) -> Webhook:
    """A new secret; the old one also signs for WEBHOOK_SECRET_GRACE_SECONDS."""
    hook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    hook.previous_secret = hook.secret
    hook.previous_secret_until = timezone.now() + timedelta(
        seconds=settings.WEBHOOK_SECRET_GRACE_SECONDS
    )
    hook.secret = new_secret()
    hook.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    return hook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete it with its cursors and delivery log; nothing more is sent."""
    webhook.delete()


@transaction.atomic
def delivery_redeliver(*, delivery_id: uuid.UUID) -> Delivery:
    """Send a delivery again, with the same event id, as soon as possible."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    now = timezone.now()
    leased = delivery.locked_until is not None and delivery.locked_until > now
    if not (delivery.state == DeliveryState.PENDING and leased):  # in flight: it is being sent
        delivery.state = DeliveryState.PENDING
        delivery.next_attempt_at = now
        delivery.give_up_at = now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
        delivery.locked_until = delivery.lease = None
        delivery.save()
        announce()
    return delivery
