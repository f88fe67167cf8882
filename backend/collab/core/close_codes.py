"""WebSocket close codes (documented in docs/protocol.md) and the mapping from domain errors."""

from __future__ import annotations

from enum import IntEnum

from backend.documents.errors import DocumentNotFound, RoleRequired, TandemError


class CloseCode(IntEnum):
    NORMAL = 1000
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    MALFORMED = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    TOO_SLOW = 4408
    TOO_LARGE_TO_SAVE = 4413
    TOO_MANY = 4429


def close_code_for(error: TandemError) -> CloseCode:
    """The close code a domain error ends a WebSocket with."""
    if isinstance(error, DocumentNotFound):
        return CloseCode.NOT_FOUND
    if isinstance(error, RoleRequired):
        return CloseCode.FORBIDDEN
    return CloseCode.MALFORMED
