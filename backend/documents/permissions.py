"""The one access gate: may this user read, edit or own this document?

REST views and the WebSocket consumer both go through ``document_access``. A caller
without any access gets ``DocumentNotFound`` whether or not the document exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from backend.documents.errors import DocumentNotFound, RoleRequired
from backend.documents.models import Document, Membership, Role
from backend.documents.tokens import token_generations


def document_role(*, user: AbstractBaseUser | AnonymousUser, document: Document) -> Role | None:
    """The user's role on ``document``, or ``None`` when they have no access."""
    if not user.is_authenticated or not user.is_active:
        return None
    if document.owner_id == user.pk:
        return Role.OWNER
    role = (
        Membership.objects.filter(document=document, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def document_access(
    *, user: AbstractBaseUser | AnonymousUser, document_id: Any, need: Role = Role.VIEWER
) -> tuple[Document, Role]:
    """Return the document and the user's role if that role includes ``need``.

    Raises ``DocumentNotFound`` when the id is malformed, unknown, or the user has no
    access at all; ``RoleRequired`` when they have access but a weaker role.
    """
    try:
        key = uuid.UUID(str(document_id))
    except ValueError:
        raise DocumentNotFound from None
    document = Document.objects.select_related("owner").filter(pk=key).first()
    if document is None:
        raise DocumentNotFound
    role = document_role(user=user, document=document)
    if role is None:
        raise DocumentNotFound
    if not role.allows(need):
        raise RoleRequired(f"This needs the {need.value} role; you are {role.value}.")
    return document, role


@dataclass(frozen=True)
class AccessSnapshot:
    """The current roles of some users on a document, for re-checking open connections."""

    roles: dict[int, Role]  # users with access, by id
    inactive: frozenset[int]  # users whose account was deactivated or deleted
    generations: dict[int, int]  # current token generation per user (see tokens.py)


def document_access_snapshot(*, document_id: uuid.UUID, user_ids: set[int]) -> AccessSnapshot:
    """Who of ``user_ids`` may still open the document, and with which role."""
    active = set(User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True))
    owner_id = Document.objects.filter(pk=document_id).values_list("owner_id", flat=True).first()
    roles: dict[int, Role] = {}
    if owner_id is not None:
        if owner_id in active:
            roles[owner_id] = Role.OWNER
        members = Membership.objects.filter(document_id=document_id, user_id__in=active)
        for user_id, role in members.values_list("user_id", "role"):
            roles[user_id] = Role(role)
    return AccessSnapshot(
        roles=roles,
        inactive=frozenset(user_ids - active),
        generations=token_generations(user_ids),
    )
