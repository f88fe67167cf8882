"""The durable update log and snapshots of each document's Yjs state."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.documents.models import Document


class DocumentUpdate(models.Model):
    """One accepted Yjs update, numbered per document from 1 without gaps."""

    # No index of its own: the unique (document, seq) index serves every lookup by document
    # (and the cascade when one is deleted), and a second index cost an insert per row.
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="updates", db_index=False
    )
    seq = models.BigIntegerField()
    update = models.BinaryField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "seq"], name="unique_update_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.seq}"


class DocumentSnapshot(models.Model):
    """The full Yjs state of a document as of update ``seq`` (``encodeStateAsUpdate``)."""

    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="snapshots", db_index=False
    )  # indexed by the unique (document, seq) index
    seq = models.BigIntegerField()
    state = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    # True: written by a Tandem that gives yrs only what it can integrate at once, so the
    # state cannot carry the damage of docs/reliability.md fix 11. Rows written before, or
    # by an older replica during a rolling upgrade, get False and are checked when loaded.
    sound_encoding = models.BooleanField(db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "seq"], name="unique_snapshot_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}@{self.seq}"
