"""How token authentication appears in the OpenAPI schema: the bearer scheme, and the answers
of simplejwt's token views, which ``urls.py`` routes as they are.

drf-spectacular finds these extensions once this module is imported (``apps`` does); it
registers them in an untyped ``__init_subclass__``, hence the ``type: ignore``s.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from backend.documents.error_responses import error_responses
from backend.documents.tokens import TokenObtainSerializer, TokenRefreshCheckingSerializer


class RevocableJWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    """``Authorization: Bearer <access token>``, as for simplejwt's own authentication."""

    target_class = "backend.documents.tokens.RevocableJWTAuthentication"


class TokenObtainSchema(TokenObtainPairSerializerExtension):  # type: ignore[no-untyped-call]
    """``{username, password}`` in, ``{access, refresh}`` out, as simplejwt's pair serializer."""

    target_class = "backend.documents.tokens.TokenObtainSerializer"


class TokenRefreshSchema(TokenRefreshSerializerExtension):  # type: ignore[no-untyped-call]
    """``{refresh}`` in, ``{access}`` out, as simplejwt's refresh serializer."""

    target_class = "backend.documents.tokens.TokenRefreshCheckingSerializer"


class TokenObtainViewSchema(OpenApiViewExtension):  # type: ignore[no-untyped-call]
    target_class = "rest_framework_simplejwt.views.TokenObtainPairView"

    def view_replacement(self) -> type[APIView]:
        return _answering(self.target, {200: TokenObtainSerializer, **error_responses(400, 401)})


class TokenRefreshViewSchema(OpenApiViewExtension):  # type: ignore[no-untyped-call]
    target_class = "rest_framework_simplejwt.views.TokenRefreshView"

    def view_replacement(self) -> type[APIView]:
        return _answering(
            self.target, {200: TokenRefreshCheckingSerializer, **error_responses(400, 401)}
        )


def _answering(view: type[APIView], responses: dict[int, Any]) -> type[APIView]:
    """A subclass of ``view`` declaring ``responses``; the view that serves stays untouched."""
    subclass = type(view.__name__, (view,), {"__module__": __name__})
    replacement: type[APIView] = extend_schema(responses=responses)(subclass)
    return replacement
