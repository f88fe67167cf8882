"""Channels middleware for the WebSocket handshake: JWT from the query string, and Origin."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser, User
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.tokens import AccessToken

from backend.collab.core.close_codes import CloseCode
from backend.collab.edge.admission import token_user
from backend.documents.tokens import CLAIM


class JWTAuthMiddleware(BaseMiddleware):  # type: ignore[misc]
    """Authenticate ``?token=<access JWT>`` and put the result in a copy of the scope.

    Sets ``scope["user"]`` (a ``User`` or ``AnonymousUser``), ``scope["token_expires_at"]``
    (epoch seconds), ``scope["auth_checked_at"]`` (``time.monotonic()`` before the token's
    user and generation were read: the room's access re-checks judge every connection whose
    answers are older than their own queries) and, when authentication failed,
    ``scope["auth_error"]`` with the close code the consumer ends the connection with.
    Keeps no state on the instance.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        token = _query_token(scope)
        checked_at = time.monotonic()  # before the token's generation is read
        user, expires_at, generation, error = await _authenticate(token)
        scope.update(
            user=user,
            token_expires_at=expires_at,
            token_generation=generation,
            auth_checked_at=checked_at,
        )
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
    claims = verified_token_claims(token) if token else None
    if claims is None:
        return refused
    user_id, generation, expires_at = claims
    user = await token_user(user_id=user_id, generation=generation)
    if user is None:
        return refused
    return user, expires_at, generation, None


VERIFIED_TOKENS_KEPT = 4096
"""Access tokens whose signature this process verified, kept (least recently used out)."""

_verified: OrderedDict[str, tuple[int, int, float]] = OrderedDict()


def verified_token_claims(token: str) -> tuple[int, int, float] | None:
    """``(user_id, generation, exp)`` of a valid access token, or ``None``.

    Decoding and verifying a token costs about 0.1 ms, and a storm brings the same token
    many times (a user's sockets, one per open document, reconnecting together). A token
    is the same bytes with the same signature every time, so the verdict on it holds until
    it expires, which is checked at every use; whether it was revoked is not kept here
    (``token_user`` asks the database each time)."""
    claims = _verified.get(token)
    if claims is not None:
        if claims[2] <= time.time() - token_backend.get_leeway().total_seconds():
            del _verified[token]  # expired since it was verified
            return None
        _verified.move_to_end(token)
        return claims
    try:
        access = AccessToken(token)  # type: ignore[arg-type]  # checks signature, expiry, type
        claims = int(access["user_id"]), int(access.get(CLAIM, 0)), float(access["exp"])
    except TokenError:
        return None
    except (KeyError, TypeError, ValueError):  # signed by us, so never seen: refuse all the same
        return None
    _verified[token] = claims
    if len(_verified) > VERIFIED_TOKENS_KEPT:
        _verified.popitem(last=False)
    return claims
