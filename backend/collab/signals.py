"""What ``collab`` tells the rest of Tandem; it knows nothing of who listens.

``mentions_committed`` is sent inside the transaction that stores a client's update adding
mentions (``storage.update_log.append_batch``), once per such update, with keyword arguments
``document_id`` (uuid.UUID), ``author_id`` (int | None) and ``mentions``
(tuple[Mention, ...], see ``core.mentions``). A receiver's writes (``notifications`` stores
inbox rows) commit with the update. A receiver that fails is logged and its writes undone
(a savepoint), and the update commits all the same: an edit is never lost to a notice.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.dispatch import Signal

from backend.collab.core.mentions import Mention

__all__ = ["Mention", "mentions_committed", "send_mentions_committed"]

logger = logging.getLogger(__name__)

mentions_committed = Signal()


def send_mentions_committed(
    *, document_id: uuid.UUID, author_id: int | None, mentions: tuple[Mention, ...]
) -> None:
    """Send ``mentions_committed`` now, inside the caller's transaction, in a savepoint."""
    try:
        with transaction.atomic():
            mentions_committed.send(
                sender=Mention, document_id=document_id, author_id=author_id, mentions=mentions
            )
    except Exception:
        logger.exception(
            "the mentions of an update to %s by user %s were not delivered; the update is stored",
            document_id,
            author_id,
        )
