"""What the migrations that create the append functions (``collab.0004``, ``collab.0005``)
share: the quoted names their SQL uses, read from the historical models a migration is
given, and the operation that creates a function on PostgreSQL only.

Not a migration: Django's loader skips modules whose names start with ``_``. The SQL of
each function stays in its migration; this holds names and plumbing only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import migrations


@dataclass(frozen=True)
class AppendNames:
    doc: str  # the documents table
    doc_id: str
    head: str
    owner: str
    updated_at: str
    upd: str  # the update log's table
    columns: str  # the log's document, seq, update, author, created_at, in that order
    users: str
    user_id: str
    is_active: str
    members: str
    member_document: str
    member_user: str
    role: str


def append_names(apps: Any, schema_editor: Any) -> AppendNames:
    quote = schema_editor.quote_name
    document = apps.get_model("documents", "Document")
    membership = apps.get_model("documents", "Membership")
    update = apps.get_model("collab", "DocumentUpdate")
    user = apps.get_model(settings.AUTH_USER_MODEL)

    def table(model: Any) -> str:
        return quote(model._meta.db_table)

    def column(model: Any, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    fields = ("document", "seq", "update", "author", "created_at")
    return AppendNames(
        doc=table(document),
        doc_id=column(document, "id"),
        head=column(document, "head_seq"),
        owner=column(document, "owner"),
        updated_at=column(document, "updated_at"),
        upd=table(update),
        columns=", ".join(column(update, name) for name in fields),
        users=table(user),
        user_id=column(user, "id"),
        is_active=column(user, "is_active"),
        members=table(membership),
        member_document=column(membership, "document"),
        member_user=column(membership, "user"),
        role=column(membership, "role"),
    )


def postgresql_function(build: Callable[[Any, Any], str], drop: str) -> migrations.RunPython:
    """Run ``build(apps, schema_editor)``'s SQL forwards and ``drop`` backwards, on PostgreSQL
    only: SQLite has no such functions (``update_log`` appends statement by statement)."""

    def create(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(build(apps, schema_editor))

    def remove(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop)

    return migrations.RunPython(create, remove)
