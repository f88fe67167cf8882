"""Admission of WebSocket connections in batches: one round of queries for a storm of sockets.

Each socket asks two questions before it is admitted: is its token's user active and the
token not revoked (the middleware), and what may that user do on the document (the
consumer). Asked one socket at a time, each question is a hop to the database thread and a
query or two, and the one database thread serves them in turn: 10,000 sockets arriving at
once waited a minute. Here the questions that arrive together share one hop and one query
per kind, like group commit for reads. Every query starts after the question was asked, so
each answer is as fresh as a query of its own would have been: nothing is cached, and a
revocation that committed before a socket asked is seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

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


@dataclass
class _Pending(Generic[Q, A]):
    loop: asyncio.AbstractEventLoop
    waiting: list[tuple[Q, asyncio.Future[A]]] = field(default_factory=list)
    runner: asyncio.Task[None] | None = None


class Batcher(Generic[Q, A]):
    """Answers questions asked together with one call of ``answer_all`` in the database
    thread.

    The first question starts a round at the loop's next turn; questions asked while a
    round runs wait for the next one, which starts as soon as that round ends. So nothing
    waits for a timer, and under load each round takes all that arrived meanwhile (up to
    ``limit``). ``answer_all`` returns one answer per question, in order; an answer that is
    a ``TandemError`` is raised to its asker; an exception of ``answer_all`` is raised to
    every asker of that round."""

    def __init__(
        self,
        answer_all: Callable[[list[Q]], Sequence[A | TandemError]],
        *,
        limit: int = MAX_BATCH,
    ) -> None:
        self._answer_all = in_db_thread(answer_all)
        self._limit = limit
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


def _token_users(questions: list[tuple[int, int]]) -> list[User | None]:
    current = active_users_and_generations(user_ids={user_id for user_id, _ in questions})
    answers: list[User | None] = []
    for user_id, generation in questions:
        user, current_generation = current.get(user_id, (None, None))
        answers.append(user if current_generation == generation else None)
    return answers


def _documents_access(
    questions: list[tuple[AbstractBaseUser | AnonymousUser, Any]],
) -> list[tuple[Document, Role] | TandemError]:
    return documents_access(requests=questions)


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
