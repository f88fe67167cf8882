"""Loading a document from its rows in PostgreSQL: the Doc and the waiting parts that
``doc_from_log`` builds from what ``update_log.load`` reads are those that integrating the
rows one by one gives, whether rows arrived in order or before the rows they build on."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Text

from backend.collab.core.integration import doc_from_log, integrate_committed, state_vector
from backend.collab.core.ports import LoadedLog, PendingWrite
from backend.collab.storage import update_log
from tests.support.factories import make_document


@pytest.fixture(autouse=True)
def _database(db: None) -> None:
    """Every test here reads and writes the real tables."""


def _typing(clients: int, keystrokes: int, seed: int) -> list[bytes]:
    """Editors taking turns at the end of one Text, a keystroke per update, each seeing
    the others' keystrokes at once (the shape of a long typing history)."""
    rnd = random.Random(seed)
    docs: list[Doc[Any]] = [Doc(client_id=100 + i) for i in range(clients)]
    updates = []
    for _ in range(keystrokes):
        doc = rnd.choice(docs)
        text = doc.get("t", type=Text)
        before = doc.get_state()
        if len(text) > 3 and rnd.random() < 0.1:
            del text[rnd.randrange(len(text))]
        else:
            text.insert(len(text), rnd.choice("abc"))
        update = doc.get_update(before)
        updates.append(update)
        for other in docs:
            if other is not doc:
                other.apply_update(update)
    return updates


def _stored(updates: list[bytes]) -> Any:
    document = make_document()
    update_log.append(document.pk, [PendingWrite(update, None) for update in updates])
    return document


def _row_by_row(log: LoadedLog) -> tuple[Doc[Any], list[bytes]]:
    doc: Doc[Any] = Doc()
    waiting: list[bytes] = []
    for update in ([log.snapshot] if log.snapshot else []) + [r.update for r in log.updates]:
        _, waiting = integrate_committed(doc, update, waiting)
    return doc, waiting


def _assert_loads_as_row_by_row(log: LoadedLog) -> list[bytes]:
    doc, waiting = doc_from_log(log)
    expected, expected_waiting = _row_by_row(log)
    assert waiting == expected_waiting
    assert state_vector(doc.get_state()) == state_vector(expected.get_state())
    assert doc.get("t", type=Text).diff() == expected.get("t", type=Text).diff()
    return waiting


def test_a_long_typing_history_without_a_snapshot_loads_complete() -> None:
    updates = _typing(clients=4, keystrokes=3000, seed=1)
    document = _stored(updates)
    log = update_log.load(document.pk)
    assert log.snapshot is None
    assert len(log.updates) == len(updates)
    assert _assert_loads_as_row_by_row(log) == []
    in_order: Doc[Any] = Doc()
    for update in updates:
        in_order.apply_update(update)
    doc, _ = doc_from_log(log)
    assert str(doc.get("t", type=Text)) == str(in_order.get("t", type=Text))


def test_rows_stored_before_the_rows_they_build_on_load_as_row_by_row() -> None:
    rnd = random.Random(2)
    updates = _typing(clients=3, keystrokes=1500, seed=2)
    for _ in range(40):  # resent updates logged ahead of what they build on
        i, j = sorted(rnd.sample(range(len(updates)), 2))
        updates.insert(i, updates.pop(j))
    missing = updates.pop(len(updates) // 2)  # one never arrives: what follows it waits
    document = _stored(updates)
    waiting = _assert_loads_as_row_by_row(update_log.load(document.pk))
    assert waiting, "the rows after the missing one wait for it"
    update_log.append(document.pk, [PendingWrite(missing, None)])
    assert _assert_loads_as_row_by_row(update_log.load(document.pk)) == []


def test_a_snapshot_and_the_rows_after_it_load_as_row_by_row() -> None:
    updates = _typing(clients=3, keystrokes=1200, seed=3)
    document = _stored(updates[:600])
    doc, waiting = doc_from_log(update_log.load(document.pk))
    update_log.save_snapshot(document.pk, 600, doc.get_update())
    update_log.append(document.pk, [PendingWrite(update, None) for update in updates[600:]])
    log = update_log.load(document.pk)
    assert log.snapshot is not None
    assert log.snapshot_seq == 600
    assert waiting == []
    assert _assert_loads_as_row_by_row(log) == []
