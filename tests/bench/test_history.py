"""The bench's hand-encoded typing history (bench/run.py) is what pycrdt itself emits.

The cold-load benchmark writes up to 1M update rows straight into the database; they must be
the real Yjs updates a client would have sent, and the snapshot the state they add up to.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pycrdt import Doc, Text

ROOT = Path(__file__).resolve().parents[2]


def bench_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_typing_updates_are_byte_for_byte_pycrdts() -> None:
    run = bench_run()
    doc: Doc = Doc(client_id=300)  # a client id over 127 takes two varint bytes
    text = doc.get("bench", type=Text)
    emitted: list[bytes] = []
    subscription = doc.observe(lambda event: emitted.append(event.update))
    for i in range(200):
        text.insert(i, "abcdefghij"[i % 10])
    doc.unobserve(subscription)

    assert list(run.typing_updates(300, 200)) == emitted


def test_typing_state_equals_the_applied_history() -> None:
    run = bench_run()
    replayed: Doc = Doc()
    for update in run.typing_updates(424242, 1000):
        replayed.apply_update(update)
    restored: Doc = Doc()
    restored.apply_update(run.typing_state(424242, 1000))

    assert str(restored.get("bench", type=Text)) == str(replayed.get("bench", type=Text))
    assert restored.get_state() == replayed.get_state()
    assert len(str(replayed.get("bench", type=Text))) == 1000
