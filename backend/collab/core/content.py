"""The document body as people read it: the ``default`` XmlFragment as text and HTML.

The body is TipTap's field: a ``Y.XmlFragment`` named ``default`` holding block elements
(``paragraph``, ``heading``, lists...) whose text carries marks (``bold``, ``link``...).
Edits made here count text positions with ``text_positions.text_length``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any, cast
from urllib.parse import urlparse

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from backend.collab.core.text_positions import text_length

BODY = "default"

_BLOCK_TAGS = {
    "paragraph": "p",
    "blockquote": "blockquote",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "codeBlock": "pre",
    "taskList": "ul",
    "taskItem": "li",
}
_VOID_TAGS = {"horizontalRule": "hr", "hardBreak": "br", "image": "img"}
_MARK_TAGS = {
    "bold": "strong",
    "italic": "em",
    "underline": "u",
    "strike": "s",
    "code": "code",
    "subscript": "sub",
    "superscript": "sup",
}
_SAFE_LINK_SCHEMES = {"http", "https", "mailto", ""}


def body(doc: Doc[Any]) -> XmlFragment:
    fragment: XmlFragment = doc.get(BODY, type=XmlFragment)
    return fragment


def _attributes(element: XmlElement) -> dict[str, Any]:
    return dict(cast(Any, element.attributes))


def as_text(doc: Doc[Any]) -> str:
    """One line per text block (paragraph, heading, list item's paragraph...)."""
    lines: list[str] = []
    for child in body(doc).children:
        _collect_lines(child, lines)
    return "\n".join(lines)


def _collect_lines(node: Any, lines: list[str]) -> None:
    if isinstance(node, XmlText):
        lines.append(str(_plain(node)))
        return
    if not isinstance(node, XmlElement):
        return
    children = list(node.children)
    if any(isinstance(child, XmlElement) and child.tag != "hardBreak" for child in children):
        for child in children:
            _collect_lines(child, lines)
    elif node.tag not in _VOID_TAGS:
        lines.append("".join(_plain(c) if isinstance(c, XmlText) else "\n" for c in children))


def _plain(text: XmlText) -> str:
    return "".join(chunk for chunk, _ in text.diff())


def as_html(doc: Doc[Any]) -> str:
    return "".join(_html(child) for child in body(doc).children)


def _html(node: Any) -> str:
    if isinstance(node, XmlText):
        return "".join(_html_chunk(chunk, attrs or {}) for chunk, attrs in node.diff())
    if not isinstance(node, XmlElement):
        return ""
    tag_name = str(node.tag)
    attributes = _attributes(node)
    if tag_name in _VOID_TAGS:
        return f"<{_VOID_TAGS[tag_name]}>"
    inner = "".join(_html(child) for child in node.children)
    if tag_name == "heading":
        level = min(max(_int(attributes.get("level"), 1), 1), 6)
        return f"<h{level}>{inner}</h{level}>"
    if tag_name == "codeBlock":
        return f"<pre><code>{inner}</code></pre>"
    tag = _BLOCK_TAGS.get(tag_name, "div")
    return f"<{tag}>{inner}</{tag}>"


def _html_chunk(chunk: str, marks: dict[str, Any]) -> str:
    html = escape(chunk)
    for mark, tag in _MARK_TAGS.items():
        # TipTap stores a mark as its attributes, ``{}`` for bold; a removed one is null.
        if marks.get(mark) not in (None, False):
            html = f"<{tag}>{html}</{tag}>"
    link = marks.get("link")
    if isinstance(link, dict):
        href = str(link.get("href", ""))
        if urlparse(href).scheme in _SAFE_LINK_SCHEMES:
            html = f'<a href="{escape(href)}">{html}</a>'
    return html


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def replace_with_text(doc: Doc[Any], text: str) -> None:
    """Make the body one paragraph per line of ``text`` (one transaction)."""
    with doc.transaction():
        fragment = body(doc)
        _clear(fragment)
        for line in text.split("\n"):
            paragraph = fragment.children.append(XmlElement("paragraph"))
            if line:
                _write_runs(paragraph.children.append(XmlText()), [(line, None)])


def replace_with_copy(doc: Doc[Any], source: Doc[Any]) -> None:
    """Make the body a copy of ``source``'s body (one transaction)."""
    with doc.transaction():
        fragment = body(doc)
        _clear(fragment)
        for child in body(source).children:
            _copy_into(fragment, child)


def _clear(fragment: XmlFragment) -> None:
    count = len(fragment.children)
    if count:
        del fragment.children[0:count]


def _copy_into(parent: XmlFragment | XmlElement, node: Any) -> None:
    if isinstance(node, XmlText):
        _write_runs(parent.children.append(XmlText()), node.diff())
    elif isinstance(node, XmlElement):
        element = parent.children.append(XmlElement(node.tag, _attributes(node)))
        for child in node.children:
            _copy_into(element, child)


def _write_runs(text: XmlText, runs: Iterable[tuple[str, dict[str, Any] | None]]) -> None:
    """Append each run of characters to ``text`` with exactly its marks (none for ``None``)."""
    position = len(text)  # pycrdt's own length, in the same unit as text_length
    for chunk, marks in runs:
        text.insert(position, chunk, marks or {})
        position += text_length(chunk)
