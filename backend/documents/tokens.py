"""JWTs that can be revoked: every token carries its user's token generation (``gen``).

"Log out everywhere" bumps the generation; tokens of an older generation are refused by the
REST API, by the token refresh endpoint, by the WebSocket handshake, and open WebSockets of
that user are closed at the next access re-check.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import User
from django.db.models import F
from django.db.models.functions import Coalesce
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.tokens import RefreshToken, Token

from backend.documents.models import AccountState
from backend.documents.signals import announce_access_change

CLAIM = "gen"
REVOKED = "This token was revoked (logged out everywhere). Log in again."


def token_generation(user_id: int) -> int:
    value = (
        AccountState.objects.filter(user_id=user_id)
        .values_list("token_generation", flat=True)
        .first()
    )
    return int(value or 0)


def token_generations(user_ids: set[int]) -> dict[int, int]:
    found = dict(
        AccountState.objects.filter(user_id__in=user_ids).values_list("user_id", "token_generation")
    )
    return {user_id: int(found.get(user_id, 0)) for user_id in user_ids}


def active_users_and_generations(*, user_ids: Collection[int]) -> dict[int, tuple[User, int]]:
    """The active accounts among ``user_ids`` with their current token generation, by id
    (one query for them all); a token of another generation is revoked."""
    users = User.objects.filter(pk__in=user_ids, is_active=True).annotate(
        current_generation=Coalesce("account_state__token_generation", 0)
    )
    return {user.pk: (user, int(user.current_generation)) for user in users}


def token_is_current(token: Token | dict[str, Any], user_id: int) -> bool:
    return int(token.get(CLAIM, 0)) == token_generation(user_id)


def user_logout_everywhere(*, user: User) -> None:
    """Revoke every token issued to ``user`` so far."""
    state, _ = AccountState.objects.get_or_create(user=user)
    AccountState.objects.filter(pk=state.pk).update(token_generation=F("token_generation") + 1)
    announce_access_change(user_ids={user.pk}, document_id=None)


class TokenObtainSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user: Any) -> Any:
        token = super().get_token(user)
        token[CLAIM] = token_generation(user.pk)
        return token


class TokenRefreshCheckingSerializer(TokenRefreshSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refresh = RefreshToken(attrs["refresh"])
        user_id = refresh.get("user_id")
        if user_id is None or not token_is_current(refresh, int(user_id)):
            raise InvalidToken(REVOKED)
        return dict(super().validate(attrs))


class RevocableJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Token) -> Any:
        user = super().get_user(validated_token)
        if not token_is_current(validated_token, user.pk):
            raise InvalidToken(REVOKED)
        return user
