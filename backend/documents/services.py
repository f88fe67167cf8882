"""Writes to documents, memberships and accounts."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from backend.documents.errors import InvalidRequest, MemberNotFound
from backend.documents.models import Document, Membership, Role
from backend.documents.signals import (
    DocumentEvent,
    EventKind,
    announce_access_change,
    document_event,
)

SHAREABLE_ROLES = (Role.EDITOR, Role.VIEWER)


def user_register(*, username: str, password: str) -> User:
    """Create an account; the caller has already validated the password's strength."""
    return User.objects.create_user(username=username, password=password)


@transaction.atomic
def document_create(*, owner: User, title: str) -> Document:
    return Document.objects.create(owner=owner, title=title)


@transaction.atomic
def document_rename(*, document: Document, title: str, actor: User | None = None) -> Document:
    previous = document.title
    document.title = title
    document.save(update_fields=["title", "updated_at"])
    if title != previous:
        document_event(
            DocumentEvent(
                "renamed",
                document.pk,
                title,
                _id(actor),
                _everyone(document),
                previous_title=previous,
            )
        )
    return document


@transaction.atomic
def document_delete(*, document: Document, actor: User | None = None) -> None:
    users = _everyone(document)
    document_id = document.pk
    document_event(DocumentEvent("deleted", document_id, document.title, _id(actor), users))
    document.delete()
    announce_access_change(user_ids=users, document_id=document_id)


@transaction.atomic
def member_add(
    *, document: Document, username: str, role: Role, actor: User | None = None
) -> Membership:
    """Share ``document`` with ``username`` as editor or viewer."""
    user = _shareable_user(document=document, username=username)
    _check_shareable_role(role)
    _lock(document)
    if Membership.objects.filter(document=document, user=user).exists():
        raise InvalidRequest(
            f"{username} is already a member; change their role with PATCH instead.",
            field="username",
        )
    membership = Membership.objects.create(document=document, user=user, role=role.value)
    _member_event("shared", document, membership, actor)
    announce_access_change(user_ids={user.pk}, document_id=document.pk)
    return membership


@transaction.atomic
def member_set_role(
    *, document: Document, username: str, role: Role, actor: User | None = None
) -> Membership:
    _check_shareable_role(role)
    _lock(document)
    membership = _membership(document=document, username=username)
    if membership.role != role.value:
        membership.role = role.value
        membership.save(update_fields=["role"])
        _member_event("role_changed", document, membership, actor)
        announce_access_change(user_ids={membership.user_id}, document_id=document.pk)
    return membership


@transaction.atomic
def member_remove(*, document: Document, username: str, actor: User | None = None) -> None:
    _lock(document)
    membership = _membership(document=document, username=username)
    membership.delete()
    _member_event("removed", document, membership, actor)
    announce_access_change(user_ids={membership.user_id}, document_id=document.pk)


def _member_event(
    kind: EventKind, document: Document, membership: Membership, actor: User | None
) -> None:
    role = membership.role if kind != "removed" else None
    users = frozenset({membership.user_id})
    document_event(DocumentEvent(kind, document.pk, document.title, _id(actor), users, role=role))


def _everyone(document: Document) -> frozenset[int]:
    members = Membership.objects.filter(document=document).values_list("user_id", flat=True)
    return frozenset({document.owner_id, *members})


def _id(user: User | None) -> int | None:
    return None if user is None else int(user.pk)


def _lock(document: Document) -> None:
    """Take the document row's lock, as appending updates does (collab's update log): a
    role change and a write are then ordered, and a write committed after the change is
    judged by it."""
    Document.objects.select_for_update().filter(pk=document.pk).values_list("pk").first()


def _shareable_user(*, document: Document, username: str) -> User:
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidRequest(f"No user named {username!r}.", field="username")
    if user.pk == document.owner_id:
        raise InvalidRequest(f"{username} owns this document already.", field="username")
    return user


def _check_shareable_role(role: Role) -> None:
    if role not in SHAREABLE_ROLES:
        raise InvalidRequest("A member's role is 'editor' or 'viewer'.", field="role")


def _membership(*, document: Document, username: str) -> Membership:
    if "\x00" in username:  # no username holds one (PostgreSQL text cannot)
        raise MemberNotFound(f"{username!r} is not a member of this document.")
    membership = (
        Membership.objects.select_for_update()
        .filter(document=document, user__username=username)
        .first()
    )
    if membership is None:
        if document.owner.get_username() == username:
            raise InvalidRequest("The owner's role cannot be changed or removed.")
        raise MemberNotFound(f"{username} is not a member of this document.")
    return membership
