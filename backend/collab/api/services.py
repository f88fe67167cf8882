"""Writes to a document's body from outside a WebSocket: the same durable path as a client.

An update is appended to the log (committed), then announced on the channel layer so every
process holding the document's room applies and broadcasts it. A lost announcement only
delays it until the room's periodic log check.
"""

from __future__ import annotations

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from backend.collab.api.selectors import VersionRemoved, document_state
from backend.collab.core import content
from backend.collab.core.ports import PendingWrite
from backend.collab.edge.fanout import group_name, update_message
from backend.collab.storage import update_log
from backend.documents.errors import InvalidRequest, RoleRequired
from backend.documents.models import Document

logger = logging.getLogger(__name__)


def document_set_text(*, document: Document, text: str, author: User) -> int:
    """Replace the body with one paragraph per line; returns the update's sequence number."""
    doc, _ = document_state(document=document)
    before = doc.get_state()
    content.replace_with_text(doc, text)
    return _commit(document, doc.get_update(before), author)


def document_restore(*, document: Document, seq: int, author: User) -> int:
    """Make the body equal to version ``seq`` with a new update; history keeps everything."""
    doc, head = document_state(document=document)
    if not 0 <= seq <= head:
        raise InvalidRequest(f"No version {seq}: versions go from 0 to {head}.", field="seq")
    try:
        version, _ = document_state(document=document, upto=seq)
    except VersionRemoved as exc:
        raise InvalidRequest(exc.message, field="seq") from exc
    before = doc.get_state()
    content.replace_with_copy(doc, version)
    return _commit(document, doc.get_update(before), author)


def _commit(document: Document, update: bytes, author: User) -> int:
    appended = update_log.append(document.pk, [PendingWrite(update, author.pk)])
    if appended.refused:
        raise RoleRequired("This needs the editor role; yours changed while the write ran.")
    seq = appended.previous + 1
    _announce(document.pk, seq, update)
    return seq


def _announce(document_id: uuid.UUID, seq: int, update: bytes) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = update_message(document_id, seq, update, origin="rest")
    try:
        async_to_sync(layer.group_send)(group_name(document_id), dict(message))
    except Exception:
        logger.exception(
            "could not announce update %s of %s; rooms catch up from the log", seq, document_id
        )
