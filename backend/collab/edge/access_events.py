"""Access changes, from ``documents``' signal to the open sockets of every replica.

Once a change of who may open or edit a document has committed, one ``access.changed``
message goes to the group every process joins (``ACCESS_GROUP``); each process re-checks
the connections of those users against the database at once (``RoomRegistry.
access_changed``). The message only says where to look, the database answers. Lost on the
at-most-once layer, the change waits for the periodic check (LOG_CHECK_SECONDS); a write
racing it is refused by the update log (``storage.update_log.append_batch``) either way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

ACCESS_GROUP = "tandem.access"


class AccessChangedMessage(TypedDict):
    """``access.changed`` -> handled by the registry as ``access_changed``."""

    type: Literal["access.changed"]
    document: str | None  # None: every document of these users
    users: list[int]


def announce(*, document_id: uuid.UUID | None, user_ids: frozenset[int], **_: Any) -> None:
    """Receiver of ``documents.signals.access_changed``: tell every process."""
    layer = get_channel_layer()
    if layer is None or not user_ids:
        return
    message: AccessChangedMessage = {
        "type": "access.changed",
        "document": None if document_id is None else str(document_id),
        "users": sorted(user_ids),
    }
    group_send_anywhere(layer, ACCESS_GROUP, dict(message))


def group_send_anywhere(layer: Any, group: str, message: dict[str, Any]) -> None:
    """``group_send`` from synchronous code (a view, a service) or from the event loop
    (then in a task of its own): a failure is logged, the periodic checks cover it."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a synchronous caller, as Django's views are: the usual case
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception as exc:
            logger.error("could not send %s to %s (%s)", message.get("type"), group, exc)
        return
    task = loop.create_task(layer.group_send(group, message))
    _sending.add(task)
    task.add_done_callback(_sent)


_sending: set[asyncio.Task[None]] = set()


def _sent(task: asyncio.Task[None]) -> None:
    _sending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("could not send a channel layer message (%s)", task.exception())


def parse(message: dict[str, Any]) -> tuple[uuid.UUID | None, frozenset[int]] | None:
    """The document (or None) and users of an ``access.changed`` message; None (logged)
    for a malformed one."""
    document = message.get("document")
    try:
        users = frozenset(int(user) for user in message.get("users") or ())
        return (None if document is None else uuid.UUID(str(document))), users
    except (TypeError, ValueError) as exc:
        logger.warning("dropped a malformed access.changed message: %s", exc)
        return None
