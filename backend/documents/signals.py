"""What ``documents`` tells the rest of Tandem; it knows nothing of who listens.

``access_changed`` is sent once the transaction that changed who may open or edit a
document has committed: a member added, re-roled or removed, a document deleted, an
account deactivated, or its tokens revoked. ``collab`` listens and re-checks the open
sockets of those users on every replica at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Keyword arguments: ``document_id`` (uuid.UUID, or None: every document of those users)
# and ``user_ids`` (frozenset[int]).
access_changed = Signal()


def announce_access_change(*, user_ids: Iterable[int], document_id: uuid.UUID | None) -> None:
    """Send ``access_changed`` after the current transaction commits (at once outside one)."""
    users = frozenset(user_ids)

    def send() -> None:
        for receiver, result in access_changed.send_robust(
            sender=None, document_id=document_id, user_ids=users
        ):
            if isinstance(result, Exception):
                logger.error(
                    "%s failed on an access change (%s); the periodic check applies it",
                    getattr(receiver, "__qualname__", receiver),
                    result,
                    exc_info=result,
                )

    transaction.on_commit(send)


def user_saved(*, instance: Any, created: bool, **_: Any) -> None:
    """A deactivated account loses its access (connected to the user model's ``post_save``)."""
    if not created and not instance.is_active:
        announce_access_change(user_ids={instance.pk}, document_id=None)


def user_deleted(*, instance: Any, **_: Any) -> None:
    """A deleted account loses its access (connected to ``post_delete``)."""
    announce_access_change(user_ids={instance.pk}, document_id=None)
