"""The one-round-trip append (``pg_append``) agrees with the statement-by-statement one and
with ``writers_among``, and judges a write by a role change it waited for: for a batch of
one write (``collab_append_update``) as for any other (``collab_append_updates``)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from backend.collab.core.ports import Appended, PendingWrite
from backend.collab.models import DocumentUpdate
from backend.collab.storage import pg_append, update_log
from backend.documents.models import Document, Membership, Role
from backend.documents.permissions import writers_among
from tests.support.factories import make_document, make_user, share


def _cast(document: Document) -> dict[str, int | None]:
    """An author of every kind the rule tells apart, on ``document``."""
    editor, viewer, removed, stranger = (make_user() for _ in range(4))
    share(document, editor, Role.EDITOR)
    share(document, viewer, Role.VIEWER)
    Membership.objects.filter(pk=share(document, removed, Role.EDITOR).pk).delete()
    inactive_editor = make_user(is_active=False)
    share(document, inactive_editor, Role.EDITOR)
    gone = make_user()
    gone_id = gone.pk
    gone.delete()
    return {
        "owner": document.owner_id,
        "editor": editor.pk,
        "viewer": viewer.pk,
        "removed": removed.pk,
        "stranger": stranger.pk,
        "inactive editor": inactive_editor.pk,
        "deleted account": gone_id,
        "no account": None,
    }


def _log(document_id: uuid.UUID) -> list[tuple[int, bytes, int | None]]:
    rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("seq")
    return [(s, bytes(u), a) for s, u, a in rows.values_list("seq", "update", "author_id")]


@pytest.mark.django_db
def test_the_sql_rule_agrees_with_writers_among() -> None:
    owner = make_user()
    document = make_document(owner=owner)
    cast = _cast(document)
    inactive_owner_document = make_document(owner=make_user(is_active=False))
    authors = {a for a in cast.values() if a is not None}
    expected = writers_among(
        owners={
            document.pk: owner.pk,
            inactive_owner_document.pk: inactive_owner_document.owner_id,
        },
        authors={
            document.pk: authors,
            inactive_owner_document.pk: {inactive_owner_document.owner_id},
        },
    )
    assert expected[document.pk] == {cast["owner"], cast["editor"]}, "the cast is not varied"
    appended = pg_append.append_batch(
        [
            (document.pk, [PendingWrite(name.encode(), a) for name, a in cast.items()]),
            (inactive_owner_document.pk, [PendingWrite(b"x", inactive_owner_document.owner_id)]),
        ]
    )
    assert appended == [
        Appended(0, frozenset(authors - expected[document.pk])),
        Appended(0, frozenset({inactive_owner_document.owner_id})),
    ]
    kept = [name for name, a in cast.items() if a is None or a in expected[document.pk]]
    assert kept == ["owner", "editor", "no account"]
    assert _log(document.pk) == [
        (seq, name.encode(), cast[name]) for seq, name in enumerate(kept, 1)
    ]
    assert _log(inactive_owner_document.pk) == []
    document.refresh_from_db()
    assert document.head_seq == 3


@pytest.mark.django_db
def test_a_batch_gives_what_the_statement_path_gives() -> None:
    """Same document twice, refused writes between kept ones, a deleted document, an entry
    with no writes: results, log rows and heads are those of the reference path."""

    def scene() -> tuple[list[tuple[uuid.UUID, list[PendingWrite]]], list[uuid.UUID]]:
        owner = make_user()
        first, second, deleted = (make_document(owner=owner) for _ in range(3))
        cast = _cast(first)
        share(second, make_user(), Role.EDITOR)
        update_log.append_batch_by_statements([(first.pk, [PendingWrite(b"earlier", None)])])
        deleted_id = deleted.pk
        deleted.delete()
        writes = [
            PendingWrite(f"{n} {name}".encode(), a) for n, (name, a) in enumerate(cast.items())
        ]
        batch = [
            (first.pk, writes[:5]),
            (deleted_id, [PendingWrite(b"lost", owner.pk)]),
            (second.pk, [PendingWrite(b"s1", owner.pk), PendingWrite(b"s2", cast["editor"])]),
            (first.pk, writes[5:]),
            (second.pk, []),
            (first.pk, writes[:2]),
        ]
        return batch, [first.pk, second.pk]

    def outcome(
        append: Any,
    ) -> tuple[list[Any], list[list[tuple[int, bytes, bool]]], list[int]]:
        batch, documents = scene()
        results = append(batch)
        owners = {d.pk: d.owner_id for d in Document.objects.filter(pk__in=documents)}
        # Authors differ between the two scenes: compare what is author-free.
        anonymous = [
            Appended(r.previous, frozenset({"refused"} if r.refused else ())) if r else None
            for r in results
        ]
        logs = [[(s, u, a == owners[d]) for s, u, a in _log(d)] for d in documents]
        heads = [Document.objects.get(pk=d).head_seq for d in documents]
        return anonymous, logs, heads

    fast = outcome(pg_append.append_batch)
    reference = outcome(update_log.append_batch_by_statements)
    assert fast == reference
    results, logs, heads = fast
    assert results[1] is None
    assert [r.previous for r in results if r] == [1, 0, 3, 1, 4]
    assert heads == [6, 1]
    assert [s for s, _, _ in logs[0]] == [1, 2, 3, 4, 5, 6], "seqs with a gap"


@pytest.mark.django_db
def test_a_write_alone_gives_what_the_statement_path_gives() -> None:
    """A batch of one write, by each kind of author and to a deleted document: the same
    result, log and head as the reference path."""

    def outcome(append: Any) -> list[tuple[Any, ...]]:
        document = make_document()
        cast = _cast(document)
        gone = make_document()
        gone_id = gone.pk
        gone.delete()
        seen: list[tuple[Any, ...]] = []
        for name, author in cast.items():
            (result,) = append([(document.pk, [PendingWrite(name.encode(), author)])])
            head = Document.objects.get(pk=document.pk).head_seq
            seen.append((name, result.previous, bool(result.refused), head))
            assert result.refused in (frozenset(), {author})
        seen.append(("gone", append([(gone_id, [PendingWrite(b"x", None)])])))
        seen.append(("log", [(s, u) for s, u, _ in _log(document.pk)]))
        return seen

    fast = outcome(pg_append.append_batch)
    assert fast == outcome(update_log.append_batch_by_statements)
    assert fast[-2:] == [
        ("gone", [None]),
        ("log", [(1, b"owner"), (2, b"editor"), (3, b"no account")]),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("writes", [1, 2], ids=["one write", "two writes"])
def test_a_write_is_judged_by_the_removal_it_waited_for(writes: int) -> None:
    """A removal holds the document row lock (as ``member_remove`` does) when the append
    starts: the append waits, and judges the author by the committed removal."""
    document = make_document()
    editor = make_user()
    share(document, editor, Role.EDITOR)
    locked, release = threading.Event(), threading.Event()
    results: list[list[Appended | None]] = []

    def remove() -> None:
        try:
            with transaction.atomic():
                Document.objects.select_for_update().filter(pk=document.pk).first()
                Membership.objects.filter(document=document, user=editor).delete()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def write() -> None:
        try:
            batch = [(document.pk, [PendingWrite(b"w", editor.pk)] * writes)]
            results.append(update_log.append_batch(batch))
        finally:
            connection.close()

    remover = threading.Thread(target=remove)
    remover.start()
    assert locked.wait(10)
    writer = threading.Thread(target=write)
    writer.start()
    writer.join(0.5)
    assert writer.is_alive(), "the append did not wait for the document row lock"
    release.set()
    remover.join(10)
    writer.join(10)
    assert results == [[Appended(0, frozenset({editor.pk}))]]
    assert _log(document.pk) == []


@pytest.mark.django_db(transaction=True)
def test_a_failed_append_rolls_back_and_the_connection_goes_on() -> None:
    """An error inside the call (here a row in the way of the next number: the insert
    breaks the log's unique ``(document, seq)``) ends the append's own transaction: nothing
    stored, the row lock released, and the next append on the same connection commits."""
    document = make_document()
    in_the_way = DocumentUpdate.objects.create(document=document, seq=1, update=b"in the way")
    with pytest.raises(IntegrityError):
        pg_append.append_batch([(document.pk, [PendingWrite(b"bad", None)])])
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with transaction.atomic():  # NOWAIT: fails at once if the row were still locked
        assert list(Document.objects.select_for_update(nowait=True).filter(pk=document.pk))
    assert Document.objects.get(pk=document.pk).head_seq == 0
    in_the_way.delete()
    assert pg_append.append_batch([(document.pk, [PendingWrite(b"good", None)])]) == [
        Appended(0, frozenset())
    ]
    assert _log(document.pk) == [(1, b"good", None)]


@pytest.mark.django_db
def test_one_prepared_statement_whatever_the_sizes_of_ids() -> None:
    """The calls' parameters have one type each: an author id past 32,767 or a batch with
    no author at all runs the statement already prepared, not a second one (a new plan for
    every size psycopg would pick for an integer)."""
    document = make_document()
    big = make_user(pk=70_000)
    share(document, big, Role.EDITOR)
    batches = [
        [PendingWrite(b"a", document.owner_id)],
        [PendingWrite(b"b", big.pk), PendingWrite(b"c", document.owner_id)],
        [PendingWrite(b"d", big.pk)],
        [PendingWrite(b"e", None)],
        [PendingWrite(b"f", None), PendingWrite(b"g", None)],
    ]
    for writes in batches:
        pg_append.append_batch([(document.pk, writes)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parameter_types::text FROM pg_prepared_statements"
            " WHERE statement LIKE '%%collab_append_update%%' ORDER BY 1"
        )
        prepared = cursor.fetchall()
    one = '{uuid,bytea,bigint[],text[],"timestamp with time zone"}'
    many = '{integer[],uuid[],bytea[],bigint[],text[],"timestamp with time zone",uuid[]}'
    assert prepared == [(many,), (one,)]
    assert [seq for seq, _, _ in _log(document.pk)] == [1, 2, 3, 4, 5, 6, 7]
