"""Channels middleware for the WebSocket handshake: JWT from the query string, and Origin."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser, User
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from backend.collab.core.close_codes import CloseCode
from backend.collab.edge.admission import token_user
from backend.documents.tokens import CLAIM


class JWTAuthMiddleware(BaseMiddleware):  # type: ignore[misc]
    """Authenticate ``?token=<access JWT>`` and put the result in a copy of the scope.

    Sets ``scope["user"]`` (a ``User`` or ``AnonymousUser``), ``scope["token_expires_at"]``
    (epoch seconds) and, when authentication failed, ``scope["auth_error"]`` with the close
    code the consumer ends the connection with. Keeps no state on the instance.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        token = _query_token(scope)
        user, expires_at, generation, error = await _authenticate(token)
        scope.update(user=user, token_expires_at=expires_at, token_generation=generation)
        if error is not None:
            scope["auth_error"] = error
        return await super().__call__(scope, receive, send)


def _query_token(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


async def _authenticate(
    token: str | None,
) -> tuple[User | AnonymousUser, float | None, int, int | None]:
    refused = AnonymousUser(), None, 0, int(CloseCode.UNAUTHENTICATED)
    if not token:
        return refused
    try:
        access = AccessToken(token)  # type: ignore[arg-type]  # checks signature, expiry, type
    except TokenError:
        return refused
    try:
        user_id, generation = int(access["user_id"]), int(access.get(CLAIM, 0))
    except (KeyError, TypeError, ValueError):  # signed by us, so never seen: refuse all the same
        return refused
    user = await token_user(user_id=user_id, generation=generation)
    if user is None:
        return refused
    return user, float(access["exp"]), generation, None
