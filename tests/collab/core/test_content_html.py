"""The body as HTML shows the marks as TipTap stores them: ``{"bold": {}}`` is bold."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, XmlElement, XmlText

from backend.collab.core import content


def _paragraph(*runs: tuple[str, dict[str, Any] | None]) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    text = XmlText()
    content.body(doc).children.append(XmlElement("paragraph", {}, [text]))
    for chunk, marks in runs:
        text.insert(len(text), chunk, marks)
    return doc


def test_marks_stored_as_empty_attribute_objects_are_shown() -> None:
    doc = _paragraph(
        ("plain ", None), ("bold", {"bold": {}}), (" both", {"bold": {}, "italic": {}})
    )
    assert (
        content.as_html(doc) == "<p>plain <strong>bold</strong><em><strong> both</strong></em></p>"
    )


def test_a_mark_set_to_null_or_false_is_not_shown() -> None:
    doc = _paragraph(("a", {"bold": None}), ("b", {"italic": False}))
    assert content.as_html(doc) == "<p>ab</p>"


def test_a_link_keeps_its_safe_href_and_its_marks() -> None:
    doc = _paragraph(("x", {"link": {"href": "https://example.org/?a=1&b=2"}, "code": {}}))
    assert (
        content.as_html(doc)
        == '<p><a href="https://example.org/?a=1&amp;b=2"><code>x</code></a></p>'
    )
