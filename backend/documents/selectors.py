"""Reads of documents and their members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import Case, CharField, OuterRef, Q, QuerySet, Subquery, Value, When

from backend.documents.models import Document, Membership, Role


def document_list(*, user: User) -> QuerySet[Document]:
    """Documents the user owns or is a member of, newest change first, each with ``role``."""
    member_role = Membership.objects.filter(document=OuterRef("pk"), user_id=user.pk).values(
        "role"
    )[:1]
    return (
        Document.objects.filter(Q(owner_id=user.pk) | Q(memberships__user_id=user.pk))
        .distinct()
        .select_related("owner")
        .annotate(
            role=Case(
                When(owner_id=user.pk, then=Value(Role.OWNER.value)),
                default=Subquery(member_role),
                output_field=CharField(),
            )
        )
        .order_by("-updated_at", "id")
    )


@dataclass(frozen=True)
class Member:
    username: str
    role: Role
    since: datetime


def member_list(*, document: Document) -> list[Member]:
    """The owner first, then every member in the order they were added."""
    members = [
        Member(username=document.owner.get_username(), role=Role.OWNER, since=document.created_at)
    ]
    for membership in document.memberships.select_related("user").order_by("created_at", "id"):
        members.append(
            Member(
                username=membership.user.get_username(),
                role=Role(membership.role),
                since=membership.created_at,
            )
        )
    return members
