"""The handshake's kept verdicts on access tokens (backend/collab/edge/middleware.py): kept
for the exact token only, and only until it expires."""

from __future__ import annotations

import time
from datetime import timedelta

from django.contrib.auth.models import User
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from backend.collab.edge import middleware
from backend.collab.edge.middleware import verified_token_claims
from backend.documents.tokens import CLAIM


def _token(*, seconds: float = 60, generation: int = 0) -> str:
    token = AccessToken.for_user(User(pk=7, username="seven"))
    token[CLAIM] = generation
    token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token)


def test_a_verified_token_gives_its_claims_again_without_another_decode() -> None:
    text = _token(generation=3)
    claims = verified_token_claims(text)
    assert claims is not None
    assert claims[:2] == (7, 3)
    assert middleware._verified[text] == claims
    assert verified_token_claims(text) == claims


def test_an_altered_token_is_refused_even_when_the_original_is_kept() -> None:
    text = _token()
    assert verified_token_claims(text) is not None
    header, payload, signature = text.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert verified_token_claims(tampered) is None
    assert tampered not in middleware._verified
    assert verified_token_claims(str(RefreshToken.for_user(User(pk=7)))) is None
    assert verified_token_claims("not.a.jwt") is None


def test_a_kept_token_is_refused_once_it_expired() -> None:
    text = _token(seconds=1.5)
    claims = verified_token_claims(text)
    assert claims is not None
    time.sleep(max(0.0, claims[2] - time.time()) + 0.05)
    assert verified_token_claims(text) is None
    assert text not in middleware._verified


def test_the_kept_verdicts_are_bounded() -> None:
    tokens = [_token() for _ in range(middleware.VERIFIED_TOKENS_KEPT + 10)]
    for text in tokens:
        assert verified_token_claims(text) is not None
    assert len(middleware._verified) == middleware.VERIFIED_TOKENS_KEPT
    assert tokens[0] not in middleware._verified
    assert tokens[-1] in middleware._verified
