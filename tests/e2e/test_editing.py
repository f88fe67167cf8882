"""Co-editing in the browser: text, carets, presence, roles, offline edits, token expiry."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import (
    Account,
    editor,
    open_document,
    screenshot,
    shared_document,
    status,
    type_at_end,
)
from tests.support.servers import TandemProcess


def document_text(page: Page) -> str:
    """The editor's text without the other people's caret labels."""
    return str(
        page.evaluate(
            """() => {
                const copy = document.querySelector('.ProseMirror').cloneNode(true)
                copy.querySelectorAll('.collaboration-carets__caret').forEach((c) => c.remove())
                return copy.innerText
            }"""
        )
    )


def caret_label(page: Page, name: str) -> Any:
    return page.locator(".collaboration-carets__label", has_text=name)


def test_two_people_see_each_others_text_caret_and_presence(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Launch plan", bob="editor")
    alice_page = open_document(new_context(), alice, document["id"])
    bob_page = open_document(new_context(), bob, document["id"])

    type_at_end(alice_page, "Hello from Alice.")
    expect(editor(bob_page)).to_contain_text("Hello from Alice.")
    type_at_end(bob_page, "\nBob was here.")
    expect(editor(alice_page)).to_contain_text("Bob was here.")

    # Each sees the other's caret, labelled with their name, and both in the presence bar.
    expect(caret_label(alice_page, "bob")).to_be_visible()
    expect(caret_label(bob_page, "alice")).to_be_visible()
    for page in (alice_page, bob_page):
        people = page.get_by_role("list", name="People here")
        expect(people.get_by_role("listitem")).to_have_count(2)
        expect(people).to_contain_text("alice")
        expect(people).to_contain_text("bob")
        # "Saved" once the server acknowledged this person's last change.
        expect(status(page)).to_have_text("Saved")

    # Undo takes back only your own changes.
    bob_page.keyboard.press("Control+z")
    expect(editor(alice_page)).not_to_contain_text("Bob was here.")
    expect(editor(bob_page)).not_to_contain_text("Bob was here.")
    assert "Hello from Alice." in document_text(alice_page)
    expect(status(bob_page)).to_have_text("Saved")

    # Formatting travels too: a heading, a list, bold text and a link.
    alice_page.keyboard.press("Control+Home")
    alice_page.get_by_role("button", name="Heading 1").click()
    expect(bob_page.locator(".ProseMirror h1")).to_contain_text("Hello from Alice.")
    type_at_end(alice_page, "\nMilk")
    alice_page.get_by_role("button", name="Bulleted list").click()
    alice_page.keyboard.press("Shift+Home")
    alice_page.get_by_role("button", name="Bold").click()
    alice_page.keyboard.press("Control+k")
    link_dialog = alice_page.get_by_role("dialog", name="Add link")
    link_dialog.get_by_label("Link address").fill("https://example.com/milk")
    link_dialog.get_by_role("button", name="Apply").click()
    expect(bob_page.locator(".ProseMirror ul li a")).to_have_attribute(
        "href", "https://example.com/milk"
    )
    expect(bob_page.locator(".ProseMirror ul li strong")).to_contain_text("Milk")
    expect(status(alice_page)).to_have_text("Saved")
    screenshot(alice_page, "coedit-alice")
    screenshot(bob_page, "coedit-bob")

    # Renaming in place reaches the others too.
    alice_page.get_by_label("Document title").fill("Launch plan v2")
    alice_page.get_by_label("Document title").press("Enter")
    expect(bob_page.get_by_label("Document title")).to_have_value("Launch plan v2")
    expect(bob_page).to_have_title("Launch plan v2 · Tandem")

    # A phone-width view of the same document.
    bob_page.set_viewport_size({"width": 390, "height": 780})
    expect(editor(bob_page)).to_be_visible()
    assert bob_page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(bob_page, "phone-editor")


def test_viewer_cannot_type_and_the_share_dialog_changes_roles_live(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Budget")
    alice_page = open_document(new_context(), alice, document["id"])
    type_at_end(alice_page, "Only Alice writes here.")

    # Alice shares with Bob as a viewer through the dialog.
    alice_page.get_by_role("button", name="Share").click()
    dialog = alice_page.get_by_role("dialog", name=re.compile("Share"))
    dialog.get_by_label("Add people by username").fill("bob")
    dialog.get_by_label("Role", exact=True).select_option("viewer")
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog.get_by_label("Role for bob")).to_have_value("viewer")
    screenshot(alice_page, "share-dialog")

    bob_page = open_document(new_context(), bob, document["id"])
    expect(editor(bob_page)).to_contain_text("Only Alice writes here.")
    expect(editor(bob_page)).to_have_attribute("contenteditable", "false")
    expect(bob_page.get_by_text(re.compile("View only"))).to_be_visible()
    expect(bob_page.get_by_role("toolbar", name="Formatting")).to_be_hidden()
    editor(bob_page).click()
    bob_page.keyboard.type("Bob tries to write.")
    expect(editor(bob_page)).not_to_contain_text("Bob tries")
    screenshot(bob_page, "viewer")

    # Alice makes Bob an editor: his page turns editable without a reload.
    dialog.get_by_label("Role for bob").select_option("editor")
    expect(alice_page.get_by_text("bob is now an editor.")).to_be_visible()
    expect(editor(bob_page)).to_have_attribute("contenteditable", "true", timeout=15_000)
    expect(bob_page.get_by_text(re.compile("View only"))).to_be_hidden()
    type_at_end(bob_page, " Bob can write now.")
    expect(editor(alice_page)).to_contain_text("Bob can write now.")
    expect(status(bob_page)).to_have_text("Saved")

    # And back to viewer, live again.
    dialog.get_by_label("Role for bob").select_option("viewer")
    expect(editor(bob_page)).to_have_attribute("contenteditable", "false", timeout=15_000)
    assert "Bob tries" not in document_text(alice_page)

    # Removed, Bob keeps the text on screen but is told he no longer has access.
    dialog.get_by_role("button", name="Remove bob").click()
    expect(dialog.get_by_label("Role for bob")).to_have_count(0)
    expect(bob_page.get_by_role("alert")).to_contain_text("no longer have access", timeout=15_000)
    expect(status(bob_page)).to_have_text("No access")
    screenshot(bob_page, "access-removed")


def test_offline_edits_merge_when_back_online(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Field notes", bob="editor")
    alice_page = open_document(new_context(), alice, document["id"])
    bob_context = new_context()
    bob_page = open_document(bob_context, bob, document["id"])
    type_at_end(alice_page, "Shared start.")
    expect(editor(bob_page)).to_contain_text("Shared start.")

    bob_context.set_offline(True)
    expect(status(bob_page)).to_have_text("Offline")
    type_at_end(bob_page, " Written on the train.")
    expect(status(bob_page)).to_have_text("Offline · unsynced changes")
    type_at_end(alice_page, " Written at the office.")
    screenshot(bob_page, "offline")
    time.sleep(0.5)  # nothing may arrive meanwhile: Bob is offline
    expect(editor(alice_page)).not_to_contain_text("train")

    bob_context.set_offline(False)
    for page in (alice_page, bob_page):
        expect(editor(page)).to_contain_text("Written on the train.", timeout=15_000)
        expect(editor(page)).to_contain_text("Written at the office.")
        expect(status(page)).to_have_text("Saved", timeout=15_000)
    assert document_text(alice_page) == document_text(bob_page)


@pytest.mark.parametrize("tandem", [{"JWT_ACCESS_LIFETIME": "8"}], indirect=True)
def test_editing_continues_across_access_token_expiry(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Long session", bob="editor")
    alice_page = open_document(new_context(), alice, document["id"])
    bob_page = open_document(new_context(), bob, document["id"])
    type_at_end(alice_page, "Before expiry.")
    expect(editor(bob_page)).to_contain_text("Before expiry.")

    # Past the 8 s lifetime the server closes the socket (4401); the client refreshes and
    # reconnects on its own, and the REST calls keep working with the new token.
    time.sleep(10)  # the scenario: the token expires while the page stays open
    type_at_end(alice_page, " After expiry.")
    expect(editor(bob_page)).to_contain_text("After expiry.", timeout=15_000)
    expect(status(alice_page)).to_have_text("Saved", timeout=15_000)
    alice_page.get_by_role("button", name="Share").click()
    expect(alice_page.get_by_role("dialog").get_by_text("bob")).to_be_visible()


def test_history_preview_and_restore(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Essay", bob="editor")
    alice_page = open_document(new_context(), alice, document["id"])
    bob_page = open_document(new_context(), bob, document["id"])
    type_at_end(alice_page, "First draft.")
    expect(status(alice_page)).to_have_text("Saved")
    expect(editor(bob_page)).to_contain_text("First draft.")
    type_at_end(bob_page, " Second thoughts.")
    expect(status(bob_page)).to_have_text("Saved")
    expect(editor(alice_page)).to_contain_text("Second thoughts.")

    # The history lists who changed what, newest first: Bob's session, then Alice's.
    alice_page.get_by_role("button", name="History").click()
    versions = alice_page.get_by_role("list", name="Versions")
    entries = versions.get_by_role("button")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("bob")
    expect(entries.nth(1)).to_contain_text("alice")

    # Preview Alice's version: the document as it was, read-only, beside the live one.
    entries.nth(1).click()
    preview = alice_page.get_by_role("region", name=re.compile("Preview of version"))
    expect(preview).to_contain_text("First draft.")
    expect(preview).not_to_contain_text("Second thoughts.")
    expect(preview.locator("[contenteditable='true']")).to_have_count(0)
    screenshot(alice_page, "history-preview")

    preview.get_by_role("button", name="Restore this version").click()
    alice_page.get_by_role("dialog").get_by_role("button", name="Restore", exact=True).click()
    for page in (alice_page, bob_page):
        expect(editor(page)).not_to_contain_text("Second thoughts.")
        expect(editor(page)).to_contain_text("First draft.")
    expect(preview).to_be_hidden()
    # The restore is itself a change in the history, so it can be undone the same way.
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("alice")
    expect(status(alice_page)).to_have_text("Saved")
    screenshot(alice_page, "history-restored")


def test_server_restart_shows_reconnecting_and_keeps_the_edits(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Minutes", bob="viewer")
    alice_page = open_document(new_context(), alice, document["id"])
    type_at_end(alice_page, "Agreed before the restart.")
    expect(status(alice_page)).to_have_text("Saved")

    tandem.stop()
    expect(status(alice_page)).to_have_text("Reconnecting…")
    type_at_end(alice_page, " Typed while it was down.")
    expect(status(alice_page)).to_have_text("Reconnecting · unsynced changes")
    screenshot(alice_page, "reconnecting")

    with TandemProcess(tandem.env, port=tandem.port):
        expect(status(alice_page)).to_have_text("Saved", timeout=20_000)
        # Stored on the server: someone opening the document now gets all of it.
        bob_page = open_document(new_context(), bob, document["id"])
        expect(editor(bob_page)).to_contain_text(
            "Agreed before the restart. Typed while it was down."
        )
