"""``update_split.split`` against updates that yrs itself encodes, of every content kind."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText, merge_updates

from backend.collab.core import update_split
from backend.collab.core.integration import state_vector
from backend.collab.core.protocol import MalformedMessage
from backend.collab.core.update_split import split
from tests.support.updates import hello_then_world, typed


def _state(doc: Doc[Any]) -> dict[int, int]:
    return state_vector(doc.get_state())


def _text(doc: Doc[Any]) -> str:
    return str(doc.get("t", type=Text))


def _rich_doc() -> Doc[Any]:
    doc: Doc[Any] = Doc()
    text = doc.get("text", type=Text)
    text.insert(0, "héllo 👋 wörld")  # the emoji spans two UTF-16 code units
    text.format(0, 5, {"bold": True})
    text.insert_embed(3, {"image": "cat.png"})
    values = doc.get("map", type=Map)
    values["numbers"] = [1, -70000, 2**40, 1.5, -0.25]
    values["flags"] = {"on": True, "off": False, "none": None}
    values["bytes"] = b"\x00\x01\xff"
    values["nested"] = Map({"list": Array(["a", {"b": [1, 2]}])})
    values["subdoc"] = Doc()
    items = doc.get("array", type=Array)
    items.extend(["x", 2, None])
    del items[1]
    fragment = doc.get("xml", type=XmlFragment)
    element = fragment.children.append(XmlElement("p", {"class": "lead"}))
    element.children.append(XmlText("inside"))
    del text[1:4]
    return doc


def _apply_once_ready(target: Doc[Any], waiting: bytes) -> None:
    """``waiting`` is ready whole for ``target`` now: apply it."""
    parts = split(waiting, _state(target))
    assert parts.waiting is None
    assert parts.ready is not None
    target.apply_update(parts.ready)


@pytest.mark.parametrize("held", [False, True])
def test_an_update_that_builds_on_what_is_held_is_ready_whole(held: bool) -> None:
    doc = _rich_doc()
    update = doc.get_update()
    parts = split(update, _state(doc) if held else {})
    assert parts.ready == update
    assert parts.waiting is None


def test_an_update_past_a_gap_in_its_own_clocks_waits_whole() -> None:
    first, second = typed("hello", " world")
    later = split(second, {})
    assert later.ready is None
    assert later.waiting is not None
    target: Doc[Any] = Doc()
    target.apply_update(first)
    _apply_once_ready(target, later.waiting)
    assert _text(target) == "hello world"


def test_items_pointing_at_another_clients_missing_item_wait_and_the_rest_is_ready() -> None:
    hello, world = hello_then_world()
    other: Doc[Any] = Doc()
    other.get("u", type=Text).insert(0, "unrelated")
    parts = split(merge_updates(world, other.get_update()), {})
    assert parts.ready is not None
    assert parts.waiting is not None
    target: Doc[Any] = Doc()
    target.apply_update(parts.ready)
    assert str(target.get("u", type=Text)) == "unrelated"
    assert _text(target) == ""
    target.apply_update(hello)
    _apply_once_ready(target, parts.waiting)
    assert _text(target) == "hello world"


def test_a_deletion_waits_for_the_clocks_it_deletes_the_held_part_applies() -> None:
    first, second = typed("hello", " world")
    doc: Doc[Any] = Doc()
    doc.apply_update(first)
    doc.apply_update(second)
    deleted = doc.get_state()
    del doc.get("t", type=Text)[3:8]  # "lo wo": clocks 3-4 of the first update, 5-7 of the second
    deletion = doc.get_update(deleted)
    target: Doc[Any] = Doc()
    target.apply_update(first)
    parts = split(deletion, _state(target))
    assert parts.ready is not None
    assert parts.waiting is not None
    target.apply_update(parts.ready)
    assert _text(target) == "hel"
    target.apply_update(second)
    _apply_once_ready(target, parts.waiting)
    assert _text(target) == "helrld"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x01",
        b"\x01\x01\x05\x00\x1f",
        b"\x00\x00\x00",
        b"\x02\x01\x05\x00\x00\x01\x01\x05\x02\x00\x01\x00",  # client 5 written twice
    ],
)
def test_bytes_that_are_not_an_update_are_refused(garbage: bytes) -> None:
    with pytest.raises(MalformedMessage):
        split(garbage, {})


@pytest.mark.parametrize("seed", range(3))
def test_the_quick_read_splits_as_the_full_parse_does(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``split`` takes an update that integrates at once whole after a quick read; every
    other goes through the full parse. Offered to Docs holding any part of a log, in any
    order, both ways give the same split."""
    rng = random.Random(seed)
    doc: Doc[Any] = Doc()
    log = [*typed("hel", "lo"), _rich_doc().get_update()]
    for update in log:
        doc.apply_update(update)
    for _ in range(20):
        writer: Doc[Any] = Doc()
        writer.apply_update(doc.get_update())
        before = writer.get_state()
        text = writer.get("t", type=Text)
        if len(text) and rng.random() < 0.3:
            del text[rng.randrange(len(text))]
        else:
            text.insert(rng.randrange(len(text) + 1), rng.choice(["a", "bc", "d"]))
        log.append(writer.get_update(before))
        doc.apply_update(log[-1])
    cases = []
    for _ in range(60):
        held = rng.sample(log, rng.randrange(len(log)))
        holder: Doc[Any] = Doc()
        for update in held:
            holder.apply_update(update)
        cases.append((rng.choice([*log, merge_updates(*rng.sample(log, 3))]), _state(holder)))
    taken = [update_split._integrates_at_once(update, state) for update, state in cases]
    assert taken.count(None) not in (0, len(cases))  # both ways are taken
    quick = [split(update, state) for update, state in cases]
    monkeypatch.setattr(update_split, "_integrates_at_once", lambda update, state: None)
    assert quick == [split(update, state) for update, state in cases]
