"""Mentions a client's update adds to the body: whom, in which paragraph, saying what.

The browser inserts TipTap's mention node into the ``default`` XmlFragment: an XmlElement
``mention`` whose attributes ``id`` and ``label`` both hold the mentioned user's username.
An update *adds* a mention when it carries that element's item (new to the Doc, integrated,
still alive once the update is applied): typed into a paragraph, or inside a paragraph the
update inserts. A keystroke beside a mention, an attribute change, a removal or an update
the Doc already holds adds none.

Dedupe rule: one notification per (document, mentioned user, author, paragraph), where the
paragraph (the element holding the mention: TipTap's textblock) is named by its Yjs item
id, ``"<client>:<clock>"``. A mention removed and added again in that paragraph gives the same
``Mention.paragraph``, so it notifies once; the same user mentioned in another paragraph is
another notification. Item ids never change, so the key holds across replicas and reloads.

How: ``Watch`` is set around the update's integration. For nearly every update it does
nothing but a byte search: a v1 update carries an element's name in clear, and a keystroke
does not carry ``mention`` (unless it types the word). Otherwise it observes the body
(``observe_deep``) for the mention elements inserted, and reads the update's structs for
their item ids, since pycrdt exposes none: a mention's paragraph is the parent written out
by the first item to its left or right that has one, a walk among that paragraph's children
(``_Lookup``); a sticky index of an item id gives its position, which pairs each struct
with its element.

Not seen: a mention in the part of an update that had to wait for updates the room had not
received yet (``integration``); it joins the Doc during a later update and is not credited
to anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pycrdt import Doc, StickyIndex, Subscription, XmlElement, XmlFragment, XmlText, write_var_uint

from backend.collab.core import update_split
from backend.collab.core.content import body
from backend.collab.core.integration import state_vector
from backend.collab.core.protocol import MalformedMessage

logger = logging.getLogger(__name__)

TAG = "mention"
_NAME = TAG.encode()
ROOT = "root"  # ``Mention.paragraph`` of a mention placed directly in the fragment
TEXT_LIMIT = 1000  # characters of the paragraph's text a Mention keeps
USERNAME_LIMIT = 150  # Django's username length: a longer ``id`` names nobody
_MAX_HOPS = 1000  # items walked to find one parent; more means a malformed body

_TYPE = 7
_HAS_ORIGIN, _HAS_RIGHT_ORIGIN, _HAS_PARENT_SUB = 0x80, 0x40, 0x20
_XML_ELEMENT, _XML_HOOK = 3, 5

Id = tuple[int, int]  # (client, clock)


@dataclass(frozen=True)
class Mention:
    username: str  # the element's ``id`` attribute
    text: str  # the paragraph as plain text, mentions as @label (at most TEXT_LIMIT)
    paragraph: str  # the paragraph's Yjs item id, "<client>:<clock>" (or ROOT): the dedupe key


@dataclass(frozen=True)
class _Item:
    id: Id
    origin: Id | None
    right: Id | None
    parent: Id | str | None  # written out: an item's id or a root type's name; else None
    mention: bool  # a live XmlElement named ``mention``


class _Placed:
    """An inserted mention element, and its positions upward (computed when asked)."""

    def __init__(self, element: XmlElement) -> None:
        self.element = element
        self.holder = element.parent
        self._nodes: list[Any] = [element]
        self._positions: list[int | None] = []

    def position(self, level: int) -> int | None:
        """0: its position among its parent's children; 1: its parent's; and so on."""
        while len(self._positions) <= level:
            node = self._nodes[-1]
            self._positions.append(_position(node))
            self._nodes.append(node.parent)
        return self._positions[level]


def may_hold_mention(update: bytes) -> bool:
    """Whether ``update`` may insert a mention element (false for nearly every keystroke)."""
    return _NAME in update


class Watch:
    """Set around applying ``update`` to ``doc`` (``with Watch(doc, update) as watch:``);
    afterwards ``watch.added()`` tells the mentions it added."""

    __slots__ = ("before", "doc", "inserted", "observed", "subscription", "update")

    def __init__(self, doc: Doc[Any], update: bytes) -> None:
        self.doc = doc
        self.update = update
        self.before = doc.get_state() if may_hold_mention(update) else None
        self.inserted: list[XmlElement] = []
        self.observed: XmlFragment | None = None
        self.subscription: Subscription | None = None

    def __enter__(self) -> Watch:
        if self.before is not None:
            self.observed = body(self.doc)
            self.subscription = self.observed.observe_deep(self._observe)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.observed is not None and self.subscription is not None:
            self.observed.unobserve(self.subscription)
        self.observed = self.subscription = None

    def _observe(self, events: list[Any]) -> None:
        """Collect inserted mention elements. Raises nothing into pycrdt, which would fail
        the update's integration: a failure here costs the mentions only."""
        try:
            for event in events:
                for op in event.delta:
                    inserted = op.get("insert")
                    if isinstance(inserted, list):
                        for node in inserted:
                            self.inserted += _mention_elements(node)
        except BaseException as exc:  # pycrdt/yrs panics raise PanicException (BaseException)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            logger.warning("could not watch an update for mentions", exc_info=True)
            self.before = None  # added() tells none

    def added(self) -> tuple[Mention, ...]:
        """The mentions the update added. Never raises: a mention that cannot be read is
        logged and left out, the write stands."""
        if self.before is None or not self.inserted:
            return ()
        try:
            return _added(self.doc, self.update, self.before, self.inserted)
        except MalformedMessage as exc:
            logger.info("could not read the mentions of an update: %s", exc)
        except BaseException as exc:  # pycrdt/yrs panics raise PanicException (BaseException)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            logger.warning("could not read the mentions of an update", exc_info=True)
        return ()


def _mention_elements(node: Any) -> list[XmlElement]:
    if not isinstance(node, XmlElement):
        return []
    if node.tag == TAG:
        return [node]
    return [found for child in node.children for found in _mention_elements(child)]


def _added(
    doc: Doc[Any], update: bytes, before: bytes, inserted: list[XmlElement]
) -> tuple[Mention, ...]:
    had, has = state_vector(before), state_vector(doc.get_state())
    new = [
        item.id
        for item in _items(update)
        if item.mention and had.get(item.id[0], 0) <= item.id[1] < has.get(item.id[0], 0)
    ]
    if not new:
        return ()
    lookup = _Lookup(doc, has)
    placed = [_Placed(element) for element in inserted]
    found = []
    for item_id in new:
        item = lookup(item_id)
        if item is None or not item.mention:
            continue  # removed again (by the same update, or a part of an earlier one)
        element = _pick(doc, lookup, item, placed)
        if element is None:
            logger.info("mention %s is not among the elements inserted in the body", item_id)
            continue
        placed.remove(element)
        mention = _mention(element, lookup.parent(item))
        if mention is not None:
            found.append(mention)
    return tuple(found)


def _pick(doc: Doc[Any], lookup: _Lookup, item: _Item, placed: list[_Placed]) -> _Placed | None:
    """The inserted element that is ``item``: the one at its position, among its parent's
    children; when elements of several parents stand there, compare the parents'
    positions, and so on up (distinct elements part before the body's children)."""
    candidates, level = placed, 0
    node: _Item | None = item
    while node is not None:
        at = _index(doc, node.id)
        candidates = [p for p in candidates if p.position(level) == at]
        if len(candidates) <= 1:
            break
        parent = lookup.parent(node)
        node = None if isinstance(parent, str) else lookup(parent)
        level += 1
    return candidates[0] if candidates else None


def _position(node: Any) -> int | None:
    """Its position among its parent's children (None: it has no parent, or was removed)."""
    parent = getattr(node, "parent", None)
    if not isinstance(parent, XmlElement | XmlFragment):
        return None
    return next((i for i, child in enumerate(parent.children) if child == node), None)


def _mention(placed: _Placed, holder: Id | str) -> Mention | None:
    username = placed.element.attributes.get("id")
    if not isinstance(username, str) or not 0 < len(username) <= USERNAME_LIMIT:
        return None
    if isinstance(holder, str):
        paragraph, text = ROOT, _label(placed.element)
    else:
        paragraph, text = f"{holder[0]}:{holder[1]}", _text(placed.holder)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    return Mention(username=username, text=text, paragraph=paragraph)


def _text(node: Any) -> str:
    """A block as plain text: mentions as @label, hard breaks as line breaks."""
    if isinstance(node, XmlText):
        return "".join(chunk for chunk, _ in node.diff() if isinstance(chunk, str))
    if not isinstance(node, XmlElement | XmlFragment):
        return ""
    if isinstance(node, XmlElement):
        if node.tag == TAG:
            return _label(node)
        if node.tag == "hardBreak":
            return "\n"
    return "".join(_text(child) for child in node.children)


def _label(mention: XmlElement) -> str:
    label = mention.attributes.get("label") or mention.attributes.get("id") or ""
    return f"@{label}"


def _index(doc: Doc[Any], item_id: Id) -> int:
    """The position of the item ``item_id`` among its parent's children."""
    client, clock = item_id
    sticky = StickyIndex.from_json({"item": {"client": client, "clock": clock}, "assoc": 0})
    with doc.transaction() as txn:
        return sticky.get_index(txn)


class _Lookup:
    """Items of ``doc`` by id, read from the Doc's encoding of each one (cached)."""

    def __init__(self, doc: Doc[Any], state: dict[int, int]) -> None:
        self.doc = doc
        self.state = state
        self.seen: dict[Id, _Item | None] = {}

    def __call__(self, item_id: Id) -> _Item | None:
        if item_id not in self.seen:
            self.seen[item_id] = self._read(item_id)
        return self.seen[item_id]

    def _read(self, item_id: Id) -> _Item | None:
        client, clock = item_id
        if clock >= self.state.get(client, 0):
            return None
        # Everything the Doc holds but this one client's items from ``clock`` on: the
        # encoding starts with that item, as it was integrated (its origins, its parent).
        vector = {**self.state, client: clock}
        encoded = [write_var_uint(len(vector))]
        for c, k in vector.items():
            encoded += [write_var_uint(c), write_var_uint(k)]
        diff = self.doc.get_update(b"".join(encoded))
        item = next(_items(diff, first_only=True), None)
        return item if item is not None and item.id == item_id else None

    def parent(self, item: _Item) -> Id | str:
        """Its parent as written out by the first item to its left or right that has one:
        an item with an origin inherits its origin's parent."""
        for _ in range(_MAX_HOPS):
            if item.parent is not None:
                return item.parent
            near = item.origin or item.right
            found = self(near) if near is not None else None
            if found is None:
                break
            item = found
        raise MalformedMessage(f"no parent found for item {item.id}")


def _items(update: bytes, *, first_only: bool = False) -> Iterator[_Item]:
    """The items (not GC structs or skips) of a v1 update, in order."""
    reader = _Reader(update)
    for _ in range(reader.var_uint()):
        count, client, clock = reader.var_uint(), reader.var_uint(), reader.var_uint()
        for _ in range(count):
            item, length = reader.item(client, clock)
            if item is not None:
                yield item
                if first_only:
                    return
            clock += length


class _Reader(update_split._UpdateReader):
    """``update_split``'s reader, keeping what a mention's place needs."""

    def item(self, client: int, clock: int) -> tuple[_Item | None, int]:
        info = self.byte()
        kind = info & 0x1F
        if kind in (0, 10):  # GC, skip
            return None, self.var_uint()
        origin = self.id() if info & _HAS_ORIGIN else None
        right = self.id() if info & _HAS_RIGHT_ORIGIN else None
        parent: Id | str | None = None
        if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
            parent = self.var_string() if self.var_uint() == 1 else self.id()
            if info & _HAS_PARENT_SUB:
                self.var_bytes()
        mention, length = False, 1
        if kind == _TYPE:
            type_ref = self.var_uint()
            if type_ref in (_XML_ELEMENT, _XML_HOOK):
                mention = type_ref == _XML_ELEMENT and self.var_bytes() == _NAME
            elif type_ref > 6:
                raise MalformedMessage(f"a shared type Yjs does not know ({type_ref})")
        else:
            length = self.content_length(kind)
        return _Item((client, clock), origin, right, parent, mention), length
