"""``update_reach.reach`` against updates that yrs itself encodes, of every content kind."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from backend.collab.integration import state_vector
from backend.collab.protocol import MalformedMessage
from backend.collab.update_reach import reach


def _state(doc: Doc[Any]) -> dict[int, int]:
    return state_vector(doc.get_state())


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


def test_a_full_update_reaches_exactly_the_state_vector() -> None:
    doc = _rich_doc()
    assert reach(doc.get_update()) == _state(doc)


def test_an_update_that_starts_past_clock_zero_reaches_its_end() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    text.insert(0, "hello")
    before = doc.get_state()
    text.insert(5, " world")
    (client,) = _state(doc)
    assert reach(doc.get_update(before)) == {client: 11}


def test_a_deletion_alone_reaches_the_end_of_what_it_deletes() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    text.insert(0, "hello")
    before = doc.get_state()
    del text[1:3]
    (client,) = _state(doc)
    assert reach(doc.get_update(before)) == {client: 3}


@pytest.mark.parametrize("garbage", [b"", b"\x01", b"\x01\x01\x05\x00\x1f", b"\x00\x00\x00"])
def test_bytes_that_are_not_an_update_are_refused(garbage: bytes) -> None:
    with pytest.raises(MalformedMessage):
        reach(garbage)
