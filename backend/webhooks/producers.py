"""What makes a webhook event: documents' events (in their transaction), and the update
log read periodically for ``document.changed``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from backend.collab.models import DocumentUpdate
from backend.documents.models import Document
from backend.documents.signals import DocumentEvent
from backend.webhooks.events import enqueue, person, subscribed
from backend.webhooks.models import ChangeCursor, EventType, Webhook

TYPES = {
    "shared": EventType.MEMBER_ADDED,
    "role_changed": EventType.MEMBER_ROLE_CHANGED,
    "removed": EventType.MEMBER_REMOVED,
    "renamed": EventType.DOCUMENT_RENAMED,
    "deleted": EventType.DOCUMENT_DELETED,
}


def on_document_changed(*, event: DocumentEvent, **_: Any) -> None:
    """Queue the event for every subscribed webhook, in the change's transaction."""
    owner_id = Document.objects.filter(pk=event.document_id).values_list("owner_id", flat=True)
    owner = owner_id.first()
    type = TYPES[event.kind]
    hooks = (
        []
        if owner is None
        else subscribed(owner_id=owner, document_id=event.document_id, type=type)
    )
    if not hooks:
        return
    data: dict[str, Any] = {}
    if type in (EventType.MEMBER_ADDED, EventType.MEMBER_ROLE_CHANGED, EventType.MEMBER_REMOVED):
        (member,) = event.user_ids
        data["member"] = person(member)
    if event.role is not None:
        data["role"] = event.role
    if event.previous_title is not None:
        data["previous_title"] = event.previous_title
    payload = {
        "document": {"id": str(event.document_id), "title": event.title},
        "actor": person(event.actor_id),
        "data": data,
    }
    enqueue(
        hooks=hooks, type=type, document_id=event.document_id, payload=payload, at=timezone.now()
    )


@dataclass(frozen=True)
class Behind:
    """A document with updates a webhook has not been told of yet."""

    webhook_id: uuid.UUID
    document_id: uuid.UUID


def changes_behind() -> list[Behind]:
    """Every (webhook, document) whose document's head is past the webhook's cursor."""
    behind: list[Behind] = []
    hooks = [
        h for h in Webhook.objects.filter(active=True) if EventType.DOCUMENT_CHANGED in h.events
    ]
    for hook in hooks:
        scope = Q(owner_id=hook.owner_id)
        if hook.document_id is not None:
            scope &= Q(pk=hook.document_id)
        cursor = ChangeCursor.objects.filter(webhook=hook, document_id=OuterRef("pk"))
        documents = (
            Document.objects.filter(scope)
            .annotate(upto=Coalesce(Subquery(cursor.values("delivered_upto")[:1]), Value(0)))
            .filter(head_seq__gt=F("upto"))
            .values_list("pk", flat=True)
        )
        behind += (Behind(hook.pk, document_id) for document_id in documents)
    return behind


def change_report(behind: Behind) -> bool:
    """Queue one ``document.changed`` covering (cursor, head] and advance the cursor, in one
    transaction; False when another replica did it first or nothing is left to report."""
    with transaction.atomic():
        ChangeCursor.objects.bulk_create(
            [ChangeCursor(webhook_id=behind.webhook_id, document_id=behind.document_id)],
            ignore_conflicts=True,
        )
        cursor = (
            ChangeCursor.objects.select_for_update()
            .filter(webhook_id=behind.webhook_id, document_id=behind.document_id)
            .get()
        )
        document = (
            Document.objects.filter(pk=behind.document_id).values("title", "head_seq").first()
        )
        hook = Webhook.objects.filter(pk=behind.webhook_id, active=True).first()
        if document is None or hook is None or document["head_seq"] <= cursor.delivered_upto:
            return False
        first, last = cursor.delivered_upto + 1, int(document["head_seq"])
        rows = DocumentUpdate.objects.filter(
            document_id=behind.document_id, seq__gte=first, seq__lte=last
        )
        totals = rows.aggregate(size=Sum(Length("update")), at=Max("created_at"))
        author_ids = {a for a in rows.values_list("author_id", flat=True).distinct() if a}
        authors = [
            {"id": pk, "username": name}
            for pk, name in User.objects.filter(pk__in=author_ids)
            .order_by("pk")
            .values_list("pk", "username")
        ]
        payload = {
            "document": {"id": str(behind.document_id), "title": document["title"]},
            "actor": None,
            "data": {
                "seq_from": first,
                "seq_to": last,
                "updates": last - first + 1,
                "update_bytes": int(totals["size"] or 0),
                "authors": authors,
            },
        }
        enqueue(
            hooks=[hook],
            type=EventType.DOCUMENT_CHANGED,
            document_id=behind.document_id,
            payload=payload,
            at=totals["at"] or timezone.now(),
        )
        cursor.delivered_upto = last
        cursor.save(update_fields=["delivered_upto"])
    return True


def changes_collect() -> int:
    """Report every document changed since its webhooks' cursors; how many were queued."""
    return sum(change_report(behind) for behind in changes_behind())
