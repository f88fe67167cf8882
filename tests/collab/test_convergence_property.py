"""Property: random edits, disconnects and reconnects across clients always converge, and a
copy freshly loaded from the database equals what every client holds."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import XmlElement, XmlText

from backend.collab.api.selectors import document_state
from backend.collab.core import content
from backend.documents.models import Document, Role
from tests.support.factories import make_document, make_user, share, token_for
from tests.support.servers import TandemProcess
from tests.support.waiting import wait_until_async
from tests.support.yclient import YClient

CLIENTS = 3

step = st.tuples(
    st.integers(0, CLIENTS - 1),
    st.sampled_from(["paragraph", "type", "delete", "bold", "drop", "reconnect"]),
    st.integers(0, 1000),
    # ASCII only: pycrdt indexes text by UTF-8 byte, so a random offset could split a character.
    st.text(alphabet="abcxyz ", min_size=1, max_size=4),
)


def _edit(client: YClient, action: str, n: int, text: str) -> None:
    blocks = client.body.children
    count = len(blocks)
    if action == "paragraph" or count == 0:
        with client.doc.transaction():
            paragraph = blocks.insert(n % (count + 1), XmlElement("paragraph"))
            paragraph.children.append(XmlText(text))
        return
    block = blocks[n % count]
    texts = [c for c in block.children if isinstance(c, XmlText)]
    if not texts:
        return
    xml_text = texts[0]
    length = len(xml_text)
    if action == "type":
        xml_text.insert(n % (length + 1), text)
    elif action == "delete" and length:
        start = n % length
        del xml_text[start : min(length, start + len(text))]
    elif action == "delete":
        del blocks[n % count]
    elif action == "bold" and length:
        start = n % length
        xml_text.format(start, min(length, start + 2), {"bold": True})


async def _scenario(url: str, steps: list[tuple[int, str, int, str]]) -> str:
    clients = [await YClient(url).connect() for _ in range(CLIENTS)]
    online = [True] * CLIENTS
    try:
        for index, action, n, text in steps:
            client = clients[index]
            if action == "drop" and online[index]:
                await client.drop()
                online[index] = False
            elif action == "reconnect" and not online[index]:
                clients[index] = await YClient(url, doc=client.doc).connect()
                online[index] = True
            elif action not in ("drop", "reconnect"):
                _edit(client, action, n, text)
            await asyncio.sleep(0.005)  # steps interleave with the server's relaying
        for index in range(CLIENTS):
            if not online[index]:
                clients[index] = await YClient(url, doc=clients[index].doc).connect()
        fresh = await YClient(url).connect()
        clients.append(fresh)
        await wait_until_async(
            lambda: len({str(c.body) for c in clients}) == 1,
            timeout=20,
            what=lambda: f"the clients to converge: {sorted({str(c.body) for c in clients})}",
        )
        # Clients only hear of each other through the server, which relays after COMMIT:
        # converged clients mean every update is in the database already.
        return str(clients[0].body)
    finally:
        for client in clients:
            await client.close()


def test_random_sessions_converge(server: TandemProcess) -> None:
    # The server is a function-scoped fixture: one per test, shared by every example (each
    # example opens its own document), so @given wraps an inner function, not the test.
    @settings(max_examples=12, deadline=None)
    @given(steps=st.lists(step, min_size=1, max_size=25))
    def check(steps: list[tuple[int, str, int, str]]) -> None:
        owner = make_user()
        editor = make_user()
        document = make_document(owner=owner)
        share(document, editor, Role.EDITOR)
        url = f"{server.ws_url}/ws/documents/{document.id}?token={token_for(owner)}"
        converged = asyncio.run(_scenario(url, steps))
        stored, _ = document_state(document=Document.objects.get(pk=document.pk))
        assert str(content.body(stored)) == converged

    check()
