"""Real sizes in the browser: a change too large to save, and a room of many people."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import BrowserContext, Page, WebSocket, expect

from backend.documents.models import Document, Role
from tests.e2e.conftest import (
    Account,
    editor,
    open_document,
    screenshot,
    shared_document,
    status,
    token,
    type_at_end,
)
from tests.support.factories import make_user, share, token_for
from tests.support.node import NODE_DIR
from tests.support.rest import api
from tests.support.servers import TandemProcess
from tests.support.waiting import wait_until

MESSAGE_CAP = 200_000
DOCUMENT_CAP = 200_000
# y-websocket's longest wait between attempts is the editor's maxBackoffTime (5 s).
LONGER_THAN_A_RETRY = 7


def paste(page: Page, text: str) -> None:
    """Paste plain text at the end of the document, as the browser does on Ctrl+V."""
    editor(page).click()
    page.keyboard.press("Control+End")
    editor(page).evaluate(
        """(el, text) => {
            const data = new DataTransfer()
            data.setData('text/plain', text)
            const event = { clipboardData: data, bubbles: true, cancelable: true }
            el.dispatchEvent(new ClipboardEvent('paste', event))
        }""",
        text,
    )


def big_text(marker: str, size: int) -> str:
    """About ``size`` bytes of lines, ending with ``marker``."""
    line = "A long pasted report line that nobody will ever read twice, kept for size. "
    return "\n".join(f"{i:05} {line}" for i in range(size // (len(line) + 6) + 1)) + f"\n{marker}"


def watch_sockets(context: BrowserContext) -> list[WebSocket]:
    """Every document WebSocket the context's pages open from now on."""
    opened: list[WebSocket] = []

    def on_page(page: Page) -> None:
        # Document sockets only: every page also opens one for the user's notifications.
        page.on(
            "websocket",
            lambda socket: "/ws/documents/" in socket.url and opened.append(socket),
        )

    context.on("page", on_page)
    return opened


def stored_text(server: TandemProcess, who: Account, document_id: str) -> str:
    content = api(server, "GET", f"/api/documents/{document_id}/content/", token=token(server, who))
    return str(content["text"])


def assert_refused_and_kept(page: Page, sockets: list[WebSocket], marker: str) -> None:
    """The page says the change is too large, keeps it on screen and never tries again."""
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("too large to save", timeout=20_000)
    expect(alert).to_contain_text("Your text is still here in this tab, but it is not saved")
    expect(alert).to_be_in_viewport()  # however far down the paste left the person
    expect(status(page)).to_have_text("Not saved")
    expect(status(page)).to_have_attribute("data-state", "too-large")
    expect(editor(page)).to_contain_text(marker)
    expect(editor(page)).to_have_attribute("contenteditable", "false")
    expect(page.get_by_role("button", name="Reload")).to_be_visible()
    opened = len(sockets)
    assert sockets[-1].is_closed()
    time.sleep(LONGER_THAN_A_RETRY)  # nothing may happen meanwhile: no new socket
    assert len(sockets) == opened, "the editor opened a new socket after the refusal"
    expect(status(page)).to_have_text("Not saved")
    expect(editor(page)).to_contain_text(marker)


@pytest.mark.parametrize("tandem", [{"WS_MAX_MESSAGE_BYTES": str(MESSAGE_CAP)}], indirect=True)
def test_a_paste_over_the_message_limit_stays_in_the_tab_unsaved_and_is_not_resent(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice = account("alice")
    document = shared_document(tandem, alice, "Big paste")
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    sockets = watch_sockets(context)
    page = open_document(context, alice, document["id"])
    type_at_end(page, "Saved before the paste.")
    expect(status(page)).to_have_text("Saved")

    paste(page, big_text("The end of the big paste.", MESSAGE_CAP + 50_000))
    # The server closes before reading the rest of the frame, so the browser may first see the
    # connection reset (1006) and retry as for any dropped connection; the 1009 is final.
    assert_refused_and_kept(page, sockets, "The end of the big paste.")
    # The close reason carries the server's limit, and the page shows it.
    expect(page.get_by_role("alert")).to_contain_text("(the limit is 195 KB)")
    screenshot(page, "too-large-change")

    stored = stored_text(tandem, alice, document["id"])
    assert "Saved before the paste." in stored
    assert "pasted report line" not in stored

    # The banner's button copies the whole text, the unsaved paste included.
    page.get_by_role("button", name="Copy the text").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    copied = str(page.evaluate("navigator.clipboard.readText()"))
    assert "Saved before the paste." in copied
    assert "The end of the big paste." in copied


@pytest.mark.parametrize("tandem", [{"DOCUMENT_MAX_BYTES": str(DOCUMENT_CAP)}], indirect=True)
def test_a_change_past_the_document_cap_stays_in_the_tab_unsaved_and_is_not_resent(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice = account("alice")
    document = shared_document(tandem, alice, "Growing report")
    context = new_context()
    sockets = watch_sockets(context)
    page = open_document(context, alice, document["id"])
    paste(page, big_text("The end of the first part.", DOCUMENT_CAP // 4))
    expect(status(page)).to_have_text("Saved", timeout=20_000)

    paste(page, big_text("The end of the second part.", DOCUMENT_CAP))
    assert_refused_and_kept(page, sockets, "The end of the second part.")
    assert len(sockets) == 1, "the server read the whole change: its first refusal is final"
    expect(page.get_by_role("alert")).to_contain_text("would make the document too large")
    expect(page.get_by_role("alert")).to_contain_text("(the limit is 195 KB)")  # the reason's
    screenshot(page, "too-large-document")

    stored = stored_text(tandem, alice, document["id"])
    assert "The end of the first part." in stored
    assert "second part" not in stored


BROWSER_PEOPLE = ("ana", "ben", "cai")
NODE_PROVIDERS = 12
# Awareness states are renewed after 15 s without a change; the browsers stay idle past that.
PAST_A_RENEWAL = 20


def node_editors(document_id: str, count: int) -> list[tuple[str, str]]:
    """``count`` new editors of the document, as (username, access token).

    Made in a thread of their own: Django refuses database work in the thread where
    Playwright's event loop runs."""

    def make() -> list[tuple[str, str]]:
        try:
            document = Document.objects.get(pk=document_id)
            users = [make_user(username=f"node{i}") for i in range(count)]
            for user in users:
                share(document, user, Role.EDITOR)
            return [(user.get_username(), token_for(user)) for user in users]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(make).result()


@dataclass
class NodeRoom:
    """browser_room.mjs, driven one JSON line at a time (see the script)."""

    process: subprocess.Popen[str]

    def send(self, step: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(step) + "\n")
        self.process.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"browser_room.mjs ended: {self.process.communicate()[1][-4000:]}"
        result: dict[str, Any] = json.loads(line)
        return result

    def finish(self, paragraphs: list[str], browsers: list[str]) -> dict[str, Any]:
        self.send({"paragraphs": paragraphs, "browsers": browsers, "waitSeconds": 30})
        return self.read()


@contextmanager
def node_room(
    server: TandemProcess, document_id: str, members: list[tuple[str, str]]
) -> Iterator[NodeRoom]:
    process = subprocess.Popen(
        ["node", "browser_room.mjs"],
        cwd=NODE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    room = NodeRoom(process)
    try:
        room.send(
            {
                "url": f"{server.ws_url}/ws/documents",
                "doc": document_id,
                "tokens": [access for _, access in members],
                "names": [name for name, _ in members],
                "cursorEvery": 1000,
                "deadlineSeconds": 300,
            }
        )
        assert room.read() == {"ready": True}
        yield room
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def blocks(page: Page) -> list[str]:
    """The text of each top-level block of the editor, without the others' caret labels."""
    return list(
        page.evaluate(
            """() => [...document.querySelector('.ProseMirror').children]
              .filter((block) => !block.matches('.collaboration-carets__caret'))
              .map((block) => {
                const copy = block.cloneNode(true)
                copy.querySelectorAll('.collaboration-carets__caret').forEach((c) => c.remove())
                return copy.textContent
            })"""
        )
    )


@pytest.mark.timeout(300)  # browsers idle past a renewal; browser_room.mjs gives up at 300 s
def test_three_browsers_and_a_dozen_providers_edit_one_document_past_a_renewal(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    people = [account(name) for name in BROWSER_PEOPLE]
    owner, *others = people
    document = shared_document(
        tandem, owner, "Big room", **{who.username: "editor" for who in others}
    )
    members = node_editors(document["id"], NODE_PROVIDERS)
    everyone = [who.username for who in people] + [name for name, _ in members]
    pages: list[Page] = []
    sockets: list[list[WebSocket]] = []
    for who in people:
        context = new_context()
        sockets.append(watch_sockets(context))
        pages.append(open_document(context, who, document["id"]))

    with node_room(tandem, document["id"], members) as room:
        started = time.monotonic()
        for round_ in (1, 2):
            for who, page in zip(people, pages, strict=True):
                line = f"{who.username} writes line {round_}."
                type_at_end(page, f"\n{line}")
                for other in pages:
                    # The providers' carets sit inside the text: read it without their labels.
                    wait_until(
                        lambda other=other, line=line: line in blocks(other),
                        timeout=20,
                        every=0.2,
                        what=f"{line!r} on every page",
                    )
            if round_ == 1:
                time.sleep(max(0.0, started + PAST_A_RENEWAL - time.monotonic()))  # idle

        for page in pages:
            here = page.get_by_role("list", name="People here")
            expect(here.get_by_role("listitem")).to_have_count(len(everyone), timeout=20_000)
            for name in everyone:
                expect(here.locator(f'[data-name="{name}"]')).to_have_count(1)
            expect(here).not_to_contain_text("claimed-")
            expect(status(page)).to_have_text("Saved")
        screenshot(pages[0], "big-room")

        text = blocks(pages[0])
        assert sum("writes line" in block for block in text) == 2 * len(people)
        for page in pages[1:]:
            wait_until(
                lambda page=page: blocks(page) == text,
                timeout=20,
                every=0.2,
                what=lambda page=page: f"the same blocks everywhere: {blocks(page)}",
            )
        seen = room.finish(text, [who.username for who in people])

    assert seen["converged"] == NODE_PROVIDERS, (text, seen["differing"])
    assert seen["seeingEveryone"] == NODE_PROVIDERS
    assert seen["claimedNamesShown"] == 0
    assert seen["closes"] == []
    assert seen["ranSeconds"] >= PAST_A_RENEWAL
    for opened in sockets:
        assert len(opened) == 1, "the server closed a socket and the browser opened another"
        assert not opened[0].is_closed()
    stored = stored_text(tandem, owner, document["id"])
    assert all(f"{who.username} writes line 2." in stored for who in people)
