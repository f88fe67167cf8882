"""Yjs updates built with pycrdt, for tests that send, store or split updates by hand. Each
writes to the Text named "t"."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text


def typed(*pieces: str) -> list[bytes]:
    """One client appending ``pieces`` in turn: an update per piece, each continuing the
    clocks of the one before."""
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    updates = []
    for piece in pieces:
        before = doc.get_state()
        text.insert(len(text), piece)
        updates.append(doc.get_update(before))
    return updates


def hello_then_world() -> tuple[bytes, bytes]:
    """``hello`` inserts "hello"; ``world`` (another client) appends " world" to it."""
    a: Doc[Any] = Doc()
    a.get("t", type=Text).insert(0, "hello")
    b: Doc[Any] = Doc()
    b.apply_update(a.get_update())
    before = b.get_state()
    b.get("t", type=Text).insert(5, " world")
    return a.get_update(), b.get_update(before)
