"""Which mentions an update adds to the body (``core.mentions``), from updates pycrdt writes
as a browser's Yjs would: TipTap's ``mention`` element, ``id`` and ``label`` the username.

The dedupe rule rests on ``Mention.paragraph``: the paragraph's Yjs item id, the same when a
mention is removed and added again there, another in another paragraph.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pycrdt import Doc, XmlElement, XmlFragment, XmlText, merge_updates

from backend.collab.core import mentions, protocol
from backend.collab.core.mentions import Mention
from backend.collab.core.room import Room
from tests.collab.core.fakes import FakePeer, MemoryStore

WRITER = 11  # the writing client's id: item ids below are (11, clock)


def _mention(username: str, label: str | None = None) -> XmlElement:
    return XmlElement("mention", {"id": username, "label": label or username})


def _paragraph(*children: str | XmlElement) -> XmlElement:
    return XmlElement(
        "paragraph", None, [XmlText(c) if isinstance(c, str) else c for c in children]
    )


class Editor:
    """A client editing the body, and the server's Doc its updates are applied to."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc(client_id=WRITER)
        self.body = self.doc.get("default", type=XmlFragment)
        self.server: Doc[Any] = Doc()
        self.last = b""

    def edit(self, change: Callable[[XmlFragment], object]) -> tuple[Mention, ...]:
        """Make ``change``, apply its update to the server's Doc: the mentions it added."""
        before = self.doc.get_state()
        with self.doc.transaction():
            change(self.body)
        self.last = self.doc.get_update(before)
        return self.apply(self.last)

    def apply(self, update: bytes) -> tuple[Mention, ...]:
        with mentions.Watch(self.server, update) as watch:
            self.server.apply_update(update)
        return watch.added()


@pytest.fixture
def editor() -> Editor:
    editor = Editor()
    editor.edit(lambda body: body.children.append(_paragraph("Hello ")))  # item (11, 0)
    return editor


def test_a_mention_typed_into_a_paragraph_is_added(editor: Editor) -> None:
    added = editor.edit(lambda body: body.children[0].children.append(_mention("bob", "Bob")))
    assert added == (Mention(username="bob", text="Hello @Bob", paragraph=f"{WRITER}:0"),)
    assert mentions.may_hold_mention(editor.last)


def test_a_mention_inside_a_new_paragraph_is_added(editor: Editor) -> None:
    def insert(body: XmlFragment) -> None:
        body.children.insert(0, _paragraph("Ask ", _mention("cy"), " and ", _mention("dee")))

    added = editor.edit(insert)
    assert [m.username for m in added] == ["cy", "dee"]
    assert {m.text for m in added} == {"Ask @cy and @dee"}
    (paragraph,) = {m.paragraph for m in added}
    assert paragraph != f"{WRITER}:0", "named after the first paragraph, not its own"
    assert str(editor.server.get("default", type=XmlFragment).children[0]).startswith(
        "<paragraph>Ask"
    )


def test_a_mention_in_a_list_item_names_its_own_paragraph(editor: Editor) -> None:
    def insert(body: XmlFragment) -> None:
        item = XmlElement("listItem", None, [_paragraph("todo: ", _mention("bob"))])
        body.children.append(XmlElement("bulletList", None, [item]))

    (added,) = editor.edit(insert)
    assert (added.username, added.text) == ("bob", "todo: @bob")
    list_item = editor.edit(
        lambda body: body.children[1].children[0].children.append(_paragraph(_mention("bob")))
    )
    assert list_item[0].paragraph != added.paragraph


def test_a_paste_of_many_paragraphs_pairs_each_mention_with_its_own(editor: Editor) -> None:
    def paste(body: XmlFragment) -> None:
        items = [XmlElement("listItem", None, [_paragraph(_mention(u), f" {u}'s")]) for u in "ab"]
        body.children.append(XmlElement("bulletList", None, items))
        body.children.append(_paragraph("to ", _mention("c")))
        body.children.append(_paragraph("to ", _mention("d")))

    added = editor.edit(paste)
    assert sorted((m.username, m.text) for m in added) == [
        ("a", "@a a's"),
        ("b", "@b b's"),
        ("c", "to @c"),
        ("d", "to @d"),
    ]
    assert len({m.paragraph for m in added}) == 4
    # Each key names its own paragraph: the same mentions typed there again give them back.
    again = editor.edit(
        lambda body: (
            [
                body.children[1].children[i].children[0].children.append(_mention(u))
                for i, u in enumerate("ab")
            ]
            + [body.children[2 + i].children.append(_mention(u)) for i, u in enumerate("cd")]
        )
    )
    assert {(m.username, m.paragraph) for m in again} == {(m.username, m.paragraph) for m in added}


def test_a_keystroke_beside_a_mention_adds_none(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    editor.edit(lambda body: body.children[0].children.append(XmlText(" ")))
    added = editor.edit(lambda body: body.children[0].children[2].insert(1, "x"))
    assert added == ()
    assert not mentions.may_hold_mention(editor.last), "a keystroke took the slow path"


def test_a_keystroke_that_types_the_word_mention_adds_none(editor: Editor) -> None:
    added = editor.edit(lambda body: body.children[0].children[0].insert(0, "mention "))
    assert mentions.may_hold_mention(editor.last)
    assert added == ()


def test_removing_a_mention_adds_none(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    assert editor.edit(lambda body: body.children[0].children.__delitem__(1)) == ()
    assert "mention" not in str(editor.server.get("default", type=XmlFragment))


def test_a_mention_added_and_removed_in_one_update_adds_none(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children.append(_mention("cy")))

    def both(body: XmlFragment) -> None:
        body.children[0].children.insert(1, _mention("bob"))
        body.children[0].children.__delitem__(1)

    assert editor.edit(both) == ()
    # Two transactions merged (as a reconnecting client sends them): the update holds the
    # element and the deletion of it; where it stood, cy's mention stands now.
    state = editor.doc.get_state()
    editor.doc.get("default", type=XmlFragment).children[0].children.insert(1, _mention("bob"))
    added = editor.doc.get_update(state)
    editor.doc.get("default", type=XmlFragment).children[0].children.__delitem__(1)
    assert editor.apply(merge_updates(added, editor.doc.get_update(state))) == ()


def test_re_adding_in_the_same_paragraph_gives_the_same_key(editor: Editor) -> None:
    (first,) = editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    editor.edit(lambda body: body.children[0].children.__delitem__(1))
    editor.edit(lambda body: body.children.insert(0, _paragraph("above")))  # indexes shift
    (again,) = editor.edit(lambda body: body.children[1].children.insert(0, _mention("bob")))
    assert again.paragraph == first.paragraph
    assert again.text == "@bobHello "
    (elsewhere,) = editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    assert elsewhere.paragraph != first.paragraph


def test_an_update_the_doc_holds_already_adds_none(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    assert editor.apply(editor.last) == ()
    assert editor.apply(editor.doc.get_update()) == (), "a reconnect's full state re-added it"


def test_old_or_removed_mentions_beside_a_new_one_are_not_mistaken_for_it(
    editor: Editor,
) -> None:
    """A reconnecting client sends what the server holds and what it wrote offline, merged:
    only the new mention is added, with its own paragraph."""
    editor.edit(lambda body: body.children[0].children.append(_mention("bob")))  # held
    body = editor.doc.get("default", type=XmlFragment)
    held = editor.doc.get_update()
    state = editor.doc.get_state()
    body.children[0].children.insert(1, _mention("gone"))
    offline = [editor.doc.get_update(state)]
    state = editor.doc.get_state()
    del body.children[0].children[1]  # the update above still holds the element
    body.children.append(_paragraph("P2 ", _mention("cy")))
    offline.append(editor.doc.get_update(state))
    (added,) = editor.apply(merge_updates(held, *offline))
    assert added.username == "cy"
    assert added.text == "P2 @cy"
    (typed_again,) = editor.edit(lambda body: body.children[1].children.append(_mention("cy")))
    assert added.paragraph == typed_again.paragraph


def test_astral_characters_in_the_paragraph_text(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children[0].insert(0, "🚀漢é "))
    (added,) = editor.edit(lambda body: body.children[0].children.append(_mention("bob", "Bøb 🎉")))
    editor.edit(lambda body: body.children[0].children.append(XmlText(" 𝄞!")))
    assert added.text == "🚀漢é Hello @Bøb 🎉"
    (again,) = editor.edit(lambda body: body.children[0].children.append(_mention("cy")))
    assert again.text == "🚀漢é Hello @Bøb 🎉 𝄞!@cy"


def test_a_long_paragraph_is_cut(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children[0].insert(0, "🚀" * 5000))
    (added,) = editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    assert len(added.text) == mentions.TEXT_LIMIT
    assert added.text.endswith("…")


@pytest.mark.parametrize(
    "attributes", [{"label": "bob"}, {"id": "", "label": "x"}, {"id": "x" * 151}]
)
def test_a_mention_without_a_username_adds_none(editor: Editor, attributes: dict[str, str]) -> None:
    def insert(body: XmlFragment) -> None:
        body.children[0].children.append(XmlElement("mention", attributes))

    assert editor.edit(insert) == ()


def test_an_element_of_another_name_adds_none(editor: Editor) -> None:
    def insert(body: XmlFragment) -> None:
        body.children[0].children.append(XmlElement("mentionable", {"id": "bob"}))

    assert editor.edit(insert) == ()


def test_garbage_adds_none_and_does_not_raise(editor: Editor) -> None:
    editor.edit(lambda body: body.children[0].children.append(_mention("bob")))
    watch = mentions.Watch(editor.server, b"\x01\x07mention")
    watch.inserted = [editor.server.get("default", type=XmlFragment).children[0].children[1]]
    assert watch.added() == ()


# --- the room carries them with the write ----------------------------------------------


@pytest.fixture
async def room_and_store() -> AsyncIterator[tuple[Room, MemoryStore]]:
    store = MemoryStore()
    room = Room(store.create(), store=store)
    await room.load()
    yield room, store
    await room.close()


async def test_the_room_gives_the_store_each_write_with_its_mentions(
    room_and_store: tuple[Room, MemoryStore],
) -> None:
    room, store = room_and_store
    peer = FakePeer(user_id=3)
    room.join(peer)
    client = Editor()
    updates = []
    for change in (
        lambda body: body.children.append(_paragraph("Hi ")),
        lambda body: body.children[0].children.append(_mention("bob")),
        lambda body: body.children[0].children[0].insert(0, "x"),
    ):
        client.edit(change)
        updates.append(client.last)
        room.receive(peer, protocol.sync_update(client.last))
    await room.flush()
    logged = store.logs[room.document_id]
    assert [w.update for w in logged] == updates
    assert [w.mentions for w in logged] == [
        (),
        (Mention(username="bob", text="Hi @bob", paragraph=f"{WRITER}:0"),),
        (),
    ]
    assert {w.author_id for w in logged} == {3}
