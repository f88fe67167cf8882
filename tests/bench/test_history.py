"""The bench's hand-encoded typing history (bench/harness/history.py) is what pycrdt emits.

The cold-load benchmark writes up to 1M update rows straight into the database; they must be
the real Yjs updates a client would have sent, and the snapshot the state they add up to.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from pycrdt import Doc, Text

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_history() -> ModuleType:
    """bench/harness/history.py, found the way ``python bench/run.py`` finds it."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("harness.history")
    finally:
        sys.path.remove(str(BENCH))


def test_typing_updates_are_byte_for_byte_pycrdts() -> None:
    history = bench_history()
    doc: Doc = Doc(client_id=300)  # a client id over 127 takes two varint bytes
    text = doc.get("bench", type=Text)
    emitted: list[bytes] = []
    subscription = doc.observe(lambda event: emitted.append(event.update))
    for i in range(200):
        text.insert(i, "abcdefghij"[i % 10])
    doc.unobserve(subscription)

    assert list(history.typing_updates(300, 200)) == emitted


def test_typing_state_equals_the_applied_history() -> None:
    history = bench_history()
    replayed: Doc = Doc()
    for update in history.typing_updates(424242, 1000):
        replayed.apply_update(update)
    restored: Doc = Doc()
    restored.apply_update(history.typing_state(424242, 1000))

    assert str(restored.get("bench", type=Text)) == str(replayed.get("bench", type=Text))
    assert restored.get_state() == replayed.get_state()
    assert len(str(replayed.get("bench", type=Text))) == 1000
