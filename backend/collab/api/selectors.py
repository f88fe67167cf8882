"""Reads of a document's body, history and presence, for the REST views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import Length
from pycrdt import Doc

from backend.collab.core.integration import doc_from_log
from backend.collab.edge.presence import read_presence
from backend.collab.edge.runtime import local_presence_entries
from backend.collab.models import DocumentUpdate
from backend.collab.storage import update_log
from backend.documents.models import Document


def document_state(*, document: Document, upto: int | None = None) -> tuple[Doc[Any], int]:
    """The document as of update ``upto`` (default: the latest), and that sequence number."""
    log = update_log.load(document.pk, upto)
    doc, _ = doc_from_log(log)
    return doc, log.head


def document_history(*, document: Document) -> QuerySet[DocumentUpdate]:
    """The document's updates, newest first, each with its author and ``size`` in bytes."""
    return (
        DocumentUpdate.objects.filter(document=document)
        .select_related("author")
        .annotate(size=Length("update"))
        .only("seq", "created_at", "author__username")
        .order_by("-seq")
    )


@dataclass
class Present:
    """One user connected to a document: since when, with how many sockets.

    Which replica holds a socket is for operators (metrics carry a ``replica`` label), not
    for members: it would tell any viewer the servers' host names and process ids.
    """

    username: str
    since: datetime
    connections: int = 0


def document_presence(*, document: Document) -> list[Present]:
    """Users connected to the document now, on any replica, earliest arrival first."""
    if settings.REDIS_URL:
        entries = read_presence(
            url=settings.REDIS_URL,
            prefix=settings.REDIS_PREFIX,
            ttl=settings.PRESENCE_TTL_SECONDS,
            document_id=document.pk,
        )
    else:
        entries = local_presence_entries(document.pk)  # the embedded setup: one process
    users: dict[str, Present] = {}
    for entry in sorted(entries, key=lambda e: e.since):
        since = datetime.fromtimestamp(entry.since, tz=UTC)
        present = users.setdefault(entry.username, Present(entry.username, since))
        present.connections += 1
    return list(users.values())
