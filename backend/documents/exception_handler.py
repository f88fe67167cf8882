"""The one mapping from domain errors to HTTP responses."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from backend.documents.errors import (
    DocumentNotFound,
    InvalidRequest,
    MemberNotFound,
    RoleRequired,
    TandemError,
)

HTTP_STATUS: dict[type[TandemError], int] = {
    DocumentNotFound: status.HTTP_404_NOT_FOUND,
    MemberNotFound: status.HTTP_404_NOT_FOUND,
    RoleRequired: status.HTTP_403_FORBIDDEN,
    InvalidRequest: status.HTTP_400_BAD_REQUEST,
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, extended with Tandem's domain errors."""
    if isinstance(exc, TandemError):
        code = next(
            (code for kind, code in HTTP_STATUS.items() if isinstance(exc, kind)),
            status.HTTP_400_BAD_REQUEST,
        )
        if isinstance(exc, InvalidRequest) and exc.field:
            return Response({exc.field: [exc.message]}, status=code)
        return Response({"detail": exc.message}, status=code)
    return exception_handler(exc, context)
