"""What ``documents`` tells the rest of Tandem; it knows nothing of who listens.

``document_changed`` is sent inside the transaction of a change to a document's sharing or
identity, with a ``DocumentEvent``: a receiver's writes (``notifications`` stores the
inbox rows) commit or roll back with the change.

``access_changed`` is sent once the transaction that changed who may open or edit a
document has committed: a member added, re-roled or removed, a document deleted, an
account deactivated, or its tokens revoked. ``collab`` listens and re-checks the open
sockets of those users on every replica at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

EventKind = Literal["shared", "role_changed", "removed", "renamed", "deleted"]


@dataclass(frozen=True)
class DocumentEvent:
    """One change to a document's sharing or identity, and whom it concerns."""

    kind: EventKind
    document_id: uuid.UUID
    title: str  # the title after the change
    actor_id: int | None  # who made it (None: an administrator or a script)
    user_ids: frozenset[int]  # the users it concerns (the member; every member and the owner)
    role: str | None = None  # shared, role_changed: the member's new role
    previous_title: str | None = None  # renamed


# Keyword argument: ``event`` (DocumentEvent).
document_changed = Signal()


def document_event(event: DocumentEvent) -> None:
    """Send ``document_changed`` now, inside the caller's transaction; a receiver that
    fails fails the change (its rows are part of it)."""
    document_changed.send(sender=DocumentEvent, event=event)


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
