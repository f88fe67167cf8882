"""The handshake's admission queries on PostgreSQL, sent from the event loop.

``edge.admission`` asks, for the sockets arriving together, whose tokens are still good and
what each may do on its document: a round of queries per question kind. In the database
thread a round's ORM queries waited for the GIL the loop holds at each step: in a storm of
10,000 sockets (2026-12-03) a round took 4.5-4.9 ms in the thread for what takes 1 ms
alone, the two kinds queued behind each other, and the storm took 8.7-14.7 s against
7.9-8.3 s with no admission queries at all. Here each kind is one prepared statement on a
connection of the loop (``pg_loop``), read into what the ORM's functions return
(``tokens.active_users_and_generations``, ``permissions.documents_access``): each query
still starts after its questions were asked, so its answers are as fresh.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from backend.collab.storage.pg_arrays import Int8Array, UuidArray
from backend.collab.storage.pg_loop import LoopConnections
from backend.documents.errors import TandemError
from backend.documents.models import Document, Role
from backend.documents.permissions import access_answers, document_keys

_connections = LoopConnections()

# What each loaded row holds, in the models' field order (``Model.from_db`` defers the rest).
_USER_FIELDS = ["id", "username", "is_active"]
_DOCUMENT_FIELDS = ["id", "owner_id"]

# Django's tables of these models (``auth``'s and ``documents``'); the tests compare these
# statements' answers with the ORM's.
_USERS = (
    'SELECT u."id", u."username", u."is_active", coalesce(s."token_generation", 0)'
    ' FROM "auth_user" u LEFT JOIN "documents_accountstate" s ON s."user_id" = u."id"'
    ' WHERE u."id" = ANY(%b::bigint[]) AND u."is_active"'
)
_DOCUMENTS = (
    'SELECT d."id", d."owner_id", m."user_id", m."role" FROM "documents_document" d'
    ' LEFT JOIN "documents_membership" m'
    ' ON m."document_id" = d."id" AND m."user_id" = ANY(%b::bigint[])'
    ' WHERE d."id" = ANY(%b::uuid[])'
)


async def active_users_and_generations(*, user_ids: Collection[int]) -> dict[int, tuple[User, int]]:
    """``tokens.active_users_and_generations``: the active accounts among ``user_ids`` with
    their current token generation. Each ``User`` holds its id, username and ``is_active``
    (the rest deferred: a socket needs no more)."""
    rows = await _connections.fetch_all(_USERS, (Int8Array(user_ids),))
    found = {}
    for user_id, username, is_active, generation in rows:
        user = User.from_db("default", _USER_FIELDS, [user_id, username, is_active])
        found[user_id] = (user, int(generation))
    return found


async def documents_access(
    *, requests: Sequence[tuple[AbstractBaseUser | AnonymousUser, Any]], need: Role = Role.VIEWER
) -> list[tuple[Document, Role] | TandemError]:
    """``permissions.documents_access`` in one statement: the documents asked for, each with
    the memberships of the users asking."""
    keys = document_keys(requests)
    user_ids = {user.pk for user, _ in requests if user.pk is not None}
    asked = UuidArray({key for key in keys if key})
    rows = await _connections.fetch_all(_DOCUMENTS, (Int8Array(user_ids), asked))
    documents: dict[uuid.UUID, Document] = {}
    memberships: dict[tuple[uuid.UUID, Any], str] = {}
    for document_id, owner_id, member_id, role in rows:
        if document_id not in documents:
            fields = [document_id, owner_id]
            documents[document_id] = Document.from_db("default", _DOCUMENT_FIELDS, fields)
        if member_id is not None:
            memberships[(document_id, member_id)] = role
    return access_answers(
        requests=requests, keys=keys, documents=documents, memberships=memberships, need=need
    )


async def close() -> None:
    """Close the idle admission connections (at shutdown)."""
    await _connections.close()
