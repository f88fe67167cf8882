"""Reads of a document's body, history and presence, for the REST views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Length
from pycrdt import Doc

from backend.collab.core.integration import doc_from_log
from backend.collab.edge.presence import read_presence
from backend.collab.edge.runtime import local_presence_entries
from backend.collab.models import DocumentSnapshot, DocumentUpdate
from backend.collab.storage import retention, update_log
from backend.documents.errors import DocumentNotFound
from backend.documents.models import Document


class VersionRemoved(DocumentNotFound):
    """The update log's retention deleted the rows this version needs (and no snapshot
    stands at it)."""


def document_state(*, document: Document, upto: int | None = None) -> tuple[Doc[Any], int]:
    """The document as of update ``upto`` (default: the latest), and that sequence number.

    Raises VersionRemoved for a version before the retention's cut that no snapshot keeps.
    """
    log = update_log.load(document.pk, upto)
    if not retention.is_contiguous(log, upto):
        kept = retention.retained_from(document.pk)
        raise VersionRemoved(
            f"Version {upto} is no longer kept: the update log's retention "
            f"(UPDATE_LOG_RETENTION_DAYS) removed it. Versions from {kept} on, and the "
            "earlier ones the history lists, can be read and restored."
        )
    doc, _ = doc_from_log(log)
    return doc, log.head


def document_history(*, document: Document) -> QuerySet[Any]:
    """The document's versions, newest first: each update still in the log (``kind``
    "update", with its author), then, before the retention's cut, each snapshot (``kind``
    "snapshot", the state as of that update; no author). ``size`` is in bytes."""
    kept = retention.retained_from(document.pk)
    updates = (
        DocumentUpdate.objects.filter(document=document)
        .annotate(
            author_name=F("author__username"),
            size=Length("update"),
            kind=Value("update", output_field=CharField()),
        )
        .values("seq", "created_at", "author_name", "size", "kind")
    )
    snapshots = (
        DocumentSnapshot.objects.filter(document=document, seq__gt=0, seq__lte=kept)
        .annotate(
            author_name=Value(None, output_field=CharField()),
            size=Length("state"),
            kind=Value("snapshot", output_field=CharField()),
        )
        .values("seq", "created_at", "author_name", "size", "kind")
    )
    return updates.union(snapshots, all=True).order_by("-seq")


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
