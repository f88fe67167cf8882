"""Factories for the models tests need; every field has a sensible default."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from backend.documents.models import Document, Membership, Role

User = get_user_model()
_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


def make_user(*, username: str | None = None, password: str = PASSWORD, **fields: Any) -> Any:
    username = username or f"user{next(_counter)}"
    return User.objects.create_user(username=username, password=password, **fields)


def make_document(*, owner: Any = None, title: str = "Notes", **fields: Any) -> Document:
    return Document.objects.create(owner=owner or make_user(), title=title, **fields)


def share(document: Document, user: Any, role: Role) -> Membership:
    return Membership.objects.create(document=document, user=user, role=role.value)


def token_for(user: Any) -> str:
    return str(AccessToken.for_user(user))
