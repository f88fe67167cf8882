"""Admission of WebSocket connections in batches: one round of queries for a storm of sockets.

Each socket asks two questions before it is admitted: is its token's user active and the
token not revoked (the middleware), and what may that user do on the document (the
consumer). Asked one socket at a time, each question is a hop to the database thread and a
query or two, and the one database thread serves them in turn: 10,000 sockets arriving at
once waited a minute. Here the questions that arrive together share one query per kind,
like group commit for reads: on PostgreSQL a prepared statement sent from the event loop
(``storage.pg_admission``), elsewhere (SQLite) the ORM's queries in the database thread.
Every query starts after the question was asked, so each answer is as fresh as a query of
its own would have been: nothing is cached, and a revocation that committed before a socket
asked is seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import connection

from backend.collab.storage import pg_admission
from backend.collab.storage.db import in_db_thread
from backend.documents.errors import TandemError
from backend.documents.models import Document, Role
from backend.documents.permissions import documents_access
from backend.documents.tokens import active_users_and_generations

logger = logging.getLogger(__name__)

Q = TypeVar("Q")
A = TypeVar("A")

MAX_BATCH = 500
"""Questions answered by one round of queries at most (bounds the queries' ``IN`` lists)."""

GATHER_SECONDS = 0.002
"""How long a round waits for more questions before its queries start.

Started at the loop's next turn, rounds were small (9 questions on average in a storm of
10,000 sockets, 2026-12-03) and each cost the loop its queries' work: 10,000 sockets took
11.0-11.9 s. Waiting 1-6 ms lets the sockets whose handshakes the loop is still reading ask
too: 6.6-9.8 s over 13 runs (docs/performance.md). A lone socket's admission waits 4 ms
more (two questions)."""


@dataclass
class _Pending(Generic[Q, A]):
    loop: asyncio.AbstractEventLoop
    waiting: list[tuple[Q, asyncio.Future[A]]] = field(default_factory=list)
    runner: asyncio.Task[None] | None = None


class Batcher(Generic[Q, A]):
    """Answers questions asked together with one call of ``answer_all``.

    The first question starts a round ``gather`` seconds later; questions asked meanwhile
    join it, and those asked while its queries run wait for the next round, which gathers
    as long once that round ends. Under load each round takes all that arrived (up to
    ``limit``). ``answer_all`` returns one answer per question, in order; an answer that is
    a ``TandemError`` is raised to its asker; an exception of ``answer_all`` is raised to
    every asker of that round."""

    def __init__(
        self,
        answer_all: Callable[[list[Q]], Awaitable[Sequence[A | TandemError]]],
        *,
        limit: int = MAX_BATCH,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self._answer_all = answer_all
        self._limit = limit
        self._gather = gather
        self._pending: _Pending[Q, A] | None = None

    async def ask(self, question: Q) -> A:
        loop = asyncio.get_running_loop()
        pending = self._pending
        if pending is None or pending.loop is not loop:  # a new loop: tests run several
            pending = self._pending = _Pending(loop)
        future: asyncio.Future[A] = loop.create_future()
        pending.waiting.append((question, future))
        if pending.runner is None:
            pending.runner = loop.create_task(self._run(pending))
        return await future

    async def _run(self, pending: _Pending[Q, A]) -> None:
        try:
            while pending.waiting:
                await asyncio.sleep(self._gather)
                batch = pending.waiting[: self._limit]
                del pending.waiting[: self._limit]
                await self._answer(batch)
        except asyncio.CancelledError:
            for _, future in pending.waiting:
                future.cancel()
            raise
        finally:
            pending.runner = None

    async def _answer(self, batch: list[tuple[Q, asyncio.Future[A]]]) -> None:
        try:
            answers = await self._answer_all([question for question, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            logger.warning("admission of %d connections failed: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():  # its asker went away (the socket closed meanwhile)
                continue
            if isinstance(answer, TandemError):
                future.set_exception(answer)
            else:
                future.set_result(answer)


# --- the two questions ------------------------------------------------------------------


@cache
def _on_loop() -> bool:
    """Whether the queries go from the event loop (PostgreSQL) or the database thread.
    (Cached: ``connection`` is a per-context proxy, 0.7% of a storm's loop to read.)"""
    return connection.vendor == "postgresql"


_users_in_thread = in_db_thread(active_users_and_generations)
_access_in_thread = in_db_thread(documents_access)


async def _token_users(questions: list[tuple[int, int]]) -> list[User | None]:
    user_ids = {user_id for user_id, _ in questions}
    if _on_loop():
        current = await pg_admission.active_users_and_generations(user_ids=user_ids)
    else:
        current = await _users_in_thread(user_ids=user_ids)
    answers: list[User | None] = []
    for user_id, generation in questions:
        user, current_generation = current.get(user_id, (None, None))
        answers.append(user if current_generation == generation else None)
    return answers


async def _documents_access(
    questions: list[tuple[AbstractBaseUser | AnonymousUser, Any]],
) -> list[tuple[Document, Role] | TandemError]:
    if _on_loop():
        return await pg_admission.documents_access(requests=questions)
    return await _access_in_thread(requests=questions)


_users: Batcher[tuple[int, int], User | None] = Batcher(_token_users)
_access: Batcher[tuple[AbstractBaseUser | AnonymousUser, Any], tuple[Document, Role]] = Batcher(
    _documents_access
)


async def token_user(*, user_id: int, generation: int) -> User | None:
    """The user of a verified token if their account is active and the token's
    generation is current (not logged out everywhere since), else ``None``."""
    return await _users.ask((user_id, generation))


async def document_admission(
    *, user: AbstractBaseUser | AnonymousUser, document_id: Any
) -> tuple[Document, Role]:
    """``permissions.document_access(user=..., document_id=...)`` for a connecting socket,
    answered together with the other sockets connecting at the same time.

    Returns ``(document, role)``; raises ``DocumentNotFound`` exactly where
    ``document_access`` does."""
    return await _access.ask((user, document_id))


async def close_admission() -> None:
    """Close the admission queries' idle connections of the event loop (at shutdown; none
    on SQLite)."""
    await pg_admission.close()
