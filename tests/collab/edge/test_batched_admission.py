"""Admission in batches (backend/collab/edge/admission.py): sockets asking together share one
round of queries, and each gets the answer a query of its own would have given."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import connections

from backend.collab.edge import admission
from backend.collab.edge.admission import Batcher, document_admission, token_user
from backend.collab.storage import pg_admission
from backend.documents.errors import DocumentNotFound, TandemError
from backend.documents.models import Document, Membership, Role
from backend.documents.permissions import document_access, documents_access
from backend.documents.tokens import active_users_and_generations, user_logout_everywhere
from tests.support.factories import make_document, make_user, share


@dataclass
class People:
    owner: Any
    editor: Any
    viewer: Any
    stranger: Any
    inactive: Any
    document: Document
    other: Document  # owned by the stranger, shared with nobody


def _people() -> People:
    owner, editor, viewer, stranger = (make_user() for _ in range(4))
    inactive = make_user(is_active=False)
    document = make_document(owner=owner)
    share(document, editor, Role.EDITOR)
    share(document, viewer, Role.VIEWER)
    share(document, inactive, Role.EDITOR)
    return People(
        owner, editor, viewer, stranger, inactive, document, make_document(owner=stranger)
    )


@pytest.fixture
async def people(transactional_db: None) -> AsyncIterator[People]:
    yield await sync_to_async(_people)()
    await pg_admission.close()
    await sync_to_async(connections.close_all)()


@pytest.fixture(params=["loop", "thread"])
def queries_from(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where admission's queries run: PostgreSQL's statements sent from the event loop, or
    the ORM's in the database thread (what SQLite gets), each asked on PostgreSQL here."""
    monkeypatch.setattr(admission, "_on_loop", lambda: request.param == "loop")
    return str(request.param)


def _outcome(answer: tuple[Document, Role] | BaseException) -> tuple[str, Any]:
    if isinstance(answer, BaseException):
        return "error", type(answer)
    document, role = answer
    return str(document.pk), role


def _cases(p: People) -> list[tuple[Any, Any]]:
    missing = uuid.uuid4()
    cases: list[tuple[Any, Any]] = []
    for user in (p.owner, p.editor, p.viewer, p.stranger, p.inactive, AnonymousUser()):
        for document_id in (p.document.pk, str(p.other.pk), missing, "not-a-uuid", None):
            cases.append((user, document_id))
    return cases


async def test_a_storm_of_access_questions_gets_each_the_single_answer(
    people: People, queries_from: str
) -> None:
    cases = _cases(people) * 5  # the same pairs asked again in the same round

    def one_by_one() -> list[tuple[str, Any]]:
        answers = []
        for user, document_id in cases:
            try:
                answers.append(_outcome(document_access(user=user, document_id=document_id)))
            except TandemError as error:
                answers.append(_outcome(error))
        return answers

    expected = await sync_to_async(one_by_one)()
    answers = await asyncio.gather(
        *(document_admission(user=u, document_id=d) for u, d in cases), return_exceptions=True
    )
    assert [_outcome(a) for a in answers] == expected
    p = people
    by_pair = {(u.pk, str(d)): _outcome(a) for (u, d), a in zip(cases, answers, strict=True)}
    assert by_pair[(p.owner.pk, str(p.document.pk))] == (str(p.document.pk), Role.OWNER)
    assert by_pair[(p.editor.pk, str(p.document.pk))] == (str(p.document.pk), Role.EDITOR)
    assert by_pair[(p.viewer.pk, str(p.document.pk))] == (str(p.document.pk), Role.VIEWER)
    for refused in (p.stranger.pk, p.inactive.pk, None):
        assert by_pair[(refused, str(p.document.pk))] == ("error", DocumentNotFound)
    assert by_pair[(p.stranger.pk, str(p.other.pk))] == (str(p.other.pk), Role.OWNER)
    assert by_pair[(p.owner.pk, "not-a-uuid")] == ("error", DocumentNotFound)


async def test_the_batch_gate_says_what_the_single_gate_says_for_every_need(
    people: People,
) -> None:
    cases = _cases(people)

    def compare() -> None:
        for need in Role:
            batch = documents_access(requests=cases, need=need)
            for (user, document_id), answer in zip(cases, batch, strict=True):
                try:
                    single: Any = document_access(user=user, document_id=document_id, need=need)
                except TandemError as error:
                    single = error
                assert _outcome(answer) == _outcome(single), (user, document_id, need)
                if isinstance(single, TandemError):
                    assert isinstance(answer, TandemError)
                    assert answer.message == single.message

    await sync_to_async(compare)()


async def test_the_loop_statement_says_what_the_orm_says_for_every_need(people: People) -> None:
    cases = _cases(people)
    for need in Role:
        from_loop = await pg_admission.documents_access(requests=cases, need=need)
        from_orm = await sync_to_async(documents_access)(requests=cases, need=need)
        for case, answer, expected in zip(cases, from_loop, from_orm, strict=True):
            assert _outcome(answer) == _outcome(expected), (case, need)
            if isinstance(expected, TandemError):
                assert isinstance(answer, TandemError)
                assert answer.message == expected.message


async def test_the_loop_statement_loads_users_as_the_orm_does(people: People) -> None:
    p = people
    ids = {p.owner.pk, p.editor.pk, p.inactive.pk, 10**9}
    await sync_to_async(user_logout_everywhere)(user=p.editor)
    from_loop = await pg_admission.active_users_and_generations(user_ids=ids)
    from_orm = await sync_to_async(active_users_and_generations)(user_ids=ids)
    assert {k: (u.pk, u.username, u.is_active, g) for k, (u, g) in from_loop.items()} == {
        k: (u.pk, u.username, u.is_active, g) for k, (u, g) in from_orm.items()
    }
    assert set(from_loop) == {p.owner.pk, p.editor.pk}
    assert from_loop[p.editor.pk][1] == 1


async def test_token_users_are_answered_together_and_exactly(
    people: People, queries_from: str
) -> None:
    p = people
    questions = [
        (p.owner.pk, 0),  # current
        (p.editor.pk, 0),
        (p.inactive.pk, 0),  # deactivated
        (p.viewer.pk, 1),  # a generation never issued
        (10**9, 0),  # no such user
    ] * 3
    users = await asyncio.gather(*(token_user(user_id=u, generation=g) for u, g in questions))
    assert [u.pk if u else None for u in users] == [p.owner.pk, p.editor.pk, None, None, None] * 3


async def test_revocation_is_seen_by_the_next_question(people: People, queries_from: str) -> None:
    p = people
    assert await token_user(user_id=p.editor.pk, generation=0) is not None
    assert (await document_admission(user=p.editor, document_id=p.document.pk))[1] == Role.EDITOR

    await sync_to_async(user_logout_everywhere)(user=p.editor)
    await sync_to_async(Membership.objects.filter(user=p.viewer).delete)()

    old, new = await asyncio.gather(
        token_user(user_id=p.editor.pk, generation=0),
        token_user(user_id=p.editor.pk, generation=1),
    )
    assert old is None
    assert new is not None
    assert new.pk == p.editor.pk
    with pytest.raises(DocumentNotFound):
        await document_admission(user=p.viewer, document_id=p.document.pk)


async def test_questions_asked_while_a_round_runs_share_the_next_round() -> None:
    rounds: list[list[int]] = []
    release = asyncio.Event()

    async def answer_all(questions: list[int]) -> list[int | TandemError]:
        rounds.append(questions)
        if len(rounds) == 1:
            await release.wait()
        return [DocumentNotFound() if q < 0 else q * 10 for q in questions]

    batcher: Batcher[int, int] = Batcher(answer_all, limit=4)
    first = asyncio.create_task(batcher.ask(1))
    await asyncio.sleep(0.05)  # the first round runs, blocked
    later = [asyncio.create_task(batcher.ask(q)) for q in (2, -3, 4, 5, 6)]
    await asyncio.sleep(0.05)
    release.set()
    assert await first == 10
    results = await asyncio.gather(*later, return_exceptions=True)
    assert results[0] == 20
    assert results[2:] == [40, 50, 60]
    assert isinstance(results[1], DocumentNotFound)
    assert rounds == [[1], [2, -3, 4, 5], [6]]  # at most ``limit`` a round


async def test_questions_asked_within_the_gathering_window_share_its_round() -> None:
    rounds: list[list[int]] = []

    async def answer_all(questions: list[int]) -> list[int | TandemError]:
        rounds.append(questions)
        return questions

    batcher: Batcher[int, int] = Batcher(answer_all, gather=0.05)
    first = asyncio.create_task(batcher.ask(1))
    for _ in range(5):  # the round's task has started: it is gathering
        await asyncio.sleep(0)
    assert await asyncio.gather(first, batcher.ask(2)) == [1, 2]
    assert rounds == [[1, 2]]


async def test_a_failed_round_fails_its_askers_and_the_next_round_runs() -> None:
    calls = 0

    async def answer_all(questions: list[int]) -> list[int | TandemError]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return questions

    batcher: Batcher[int, int] = Batcher(answer_all)
    failed = await asyncio.gather(batcher.ask(1), batcher.ask(2), return_exceptions=True)
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert await asyncio.gather(batcher.ask(3), batcher.ask(4)) == [3, 4]
    assert calls == 2


async def test_an_asker_that_went_away_does_not_disturb_the_others() -> None:
    async def answer_all(questions: list[int]) -> list[int | TandemError]:
        return questions

    batcher: Batcher[int, int] = Batcher(answer_all)
    gone = asyncio.create_task(batcher.ask(1))
    stays = asyncio.create_task(batcher.ask(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await stays == 2
    with pytest.raises(asyncio.CancelledError):
        await gone
