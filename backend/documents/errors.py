"""Domain errors of Tandem, mapped to HTTP statuses in ``exception_handler`` and to
WebSocket close codes in ``backend.collab.core.close_codes``."""

from __future__ import annotations


class TandemError(Exception):
    """Base of every domain error; ``message`` is safe to show to the caller."""

    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class DocumentNotFound(TandemError):
    """The document does not exist, or the caller may not know that it does."""

    default_message = "No document with this id, or you have no access to it."


class RoleRequired(TandemError):
    """The caller can see the document but their role does not allow this action."""

    default_message = "Your role on this document does not allow this action."


class InvalidRequest(TandemError):
    """The request is well-formed but breaks a rule; ``field`` names the culprit if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class MemberNotFound(TandemError):
    """The named user is not a member of the document."""

    default_message = "That user is not a member of this document."
