"""Notifications in the browser: two people on two replicas, each seeing the other's changes
through the page's own UI (the list, the bell, a toast, the editor) without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocketRoute, expect

from tests.e2e.conftest import (
    ARTIFACTS,
    Account,
    editor,
    log_in,
    open_document,
    screenshot,
    shared_document,
    status,
    token,
    type_at_end,
)
from tests.support.rest import api
from tests.support.servers import TandemProcess, server_env

# Sent from one replica, seen on the other: well within this (the goal is a second).
LIVE = 5_000


@pytest.fixture
def replica_b(tandem: TandemProcess) -> Iterator[TandemProcess]:
    """A second server on the same database and Redis: the member's replica."""
    log = ARTIFACTS / "notifications-replica-b.server.log"
    log.unlink(missing_ok=True)
    with TandemProcess(server_env(), log_path=log) as server:
        yield server


@pytest.fixture
def context_on(browser: Browser) -> Iterator[Callable[[TandemProcess], BrowserContext]]:
    """Browser contexts (one per person) pointed at a given replica."""
    contexts: list[BrowserContext] = []

    def _new(server: TandemProcess) -> BrowserContext:
        context = browser.new_context(
            base_url=server.http_url, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()


def bell(page: Page) -> Any:
    return page.get_by_role("button", name=re.compile(r"^Notifications"))


def bell_count(page: Page) -> Any:
    return bell(page).locator(".bell-count")


def toast(page: Page, text: str | re.Pattern[str]) -> Any:
    return page.locator(".toast").filter(has_text=text)


def doc_row(page: Page, title: str) -> Any:
    return (
        page.get_by_role("list", name="Documents")
        .get_by_role("listitem")
        .filter(has=page.get_by_text(title, exact=True))
    )


def mark_page(page: Page) -> None:
    """A flag that a reload would wipe: checked at the end, so nothing came by reloading."""
    page.evaluate("window.__tandemNoReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__tandemNoReload === true"), "the page was reloaded"


def share_dialog(page: Page) -> Any:
    page.get_by_role("button", name="Share").click()
    return page.get_by_role("dialog", name=re.compile("Share"))


def test_share_rename_role_change_removal_and_deletion_reach_the_member_live(
    tandem: TandemProcess,
    replica_b: TandemProcess,
    context_on: Callable[[TandemProcess], BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    old = shared_document(tandem, alice, "Old notes", bob="editor")
    plan = shared_document(tandem, alice, "Q3 plan")

    # Bob's list on replica B: one shared document, nothing unread.
    bob_page = log_in(context_on(replica_b), bob)
    mark_page(bob_page)
    expect(doc_row(bob_page, "Old notes")).to_be_visible()
    expect(bell(bob_page)).to_have_accessible_name("Notifications, 1 unread")  # the first share
    bell(bob_page).click()
    bob_page.get_by_role("button", name="Mark all read").click()
    expect(bell_count(bob_page)).to_be_hidden()
    bell(bob_page).click()

    # Alice, on replica A, shares "Q3 plan" with Bob as an editor in the editor's dialog.
    alice_page = open_document(context_on(tandem), alice, plan["id"])
    dialog = share_dialog(alice_page)
    dialog.get_by_label("Add people by username").fill("bob")
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog.get_by_label("Role for bob")).to_have_value("editor")
    expect(toast(bob_page, "alice shared “Q3 plan” with you as an editor.")).to_be_visible(
        timeout=LIVE
    )
    expect(doc_row(bob_page, "Q3 plan").get_by_text("Editor", exact=True)).to_be_visible()
    expect(bell_count(bob_page)).to_have_text("1")
    screenshot(bob_page, "notifications-shared")
    dialog.get_by_role("button", name="Close").click()

    # Alice renames it: Bob's list follows.
    title = alice_page.get_by_label("Document title")
    title.fill("Q4 plan")
    title.press("Enter")
    expect(doc_row(bob_page, "Q4 plan")).to_be_visible(timeout=LIVE)
    expect(doc_row(bob_page, "Q3 plan")).to_have_count(0)
    expect(toast(bob_page, "alice renamed “Q3 plan” to “Q4 plan”.")).to_be_visible()
    expect(bell_count(bob_page)).to_have_text("2")

    # A role change made elsewhere (REST, replica A) changes the badge.
    alice_token = token(tandem, alice)
    api(
        tandem,
        "PATCH",
        f"/api/documents/{old['id']}/members/bob/",
        {"role": "viewer"},
        alice_token,
    )
    expect(doc_row(bob_page, "Old notes").get_by_text("Viewer", exact=True)).to_be_visible(
        timeout=LIVE
    )
    expect(bell_count(bob_page)).to_have_text("3")

    # The panel lists them newest first, each naming who did what; clicking one marks it read.
    bell(bob_page).click()
    panel = bob_page.get_by_role("region", name="Notifications")
    items = panel.get_by_role("listitem")
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_contain_text("alice made you a viewer of “Old notes”.")
    expect(items.nth(1)).to_contain_text("alice renamed “Q3 plan” to “Q4 plan”.")
    expect(items.nth(2)).to_contain_text("alice shared “Q3 plan” with you as an editor.")
    screenshot(bob_page, "notifications-panel")
    items.nth(0).get_by_role("link").click()  # to "Old notes", read
    expect(bob_page).to_have_url(re.compile(f"/d/{old['id']}$"))
    expect(bell_count(bob_page)).to_have_text("2")
    bob_page.get_by_role("link", name="All documents").click()
    bell(bob_page).click()
    bob_page.get_by_role("region", name="Notifications").get_by_role(
        "button", name="Mark all read"
    ).click()
    expect(bell_count(bob_page)).to_be_hidden()
    bell(bob_page).click()

    # Bob edits "Q4 plan" on replica B; Alice makes him a viewer: read-only at once.
    doc_row(bob_page, "Q4 plan").get_by_role("link").click()
    expect(editor(bob_page)).to_have_attribute("contenteditable", "true")
    expect(status(bob_page)).not_to_have_attribute("data-state", re.compile("connecting"))
    type_at_end(bob_page, "Bob was here.")
    expect(editor(alice_page)).to_contain_text("Bob was here.")
    dialog = share_dialog(alice_page)
    dialog.get_by_label("Role for bob").select_option("viewer")
    expect(editor(bob_page)).to_have_attribute("contenteditable", "false", timeout=LIVE)
    expect(bob_page.get_by_text(re.compile("View only"))).to_be_visible()
    expect(toast(bob_page, "alice made you a viewer of “Q4 plan”.")).to_be_visible()
    editor(bob_page).click()
    bob_page.keyboard.type("Bob tries again.")
    expect(editor(bob_page)).not_to_contain_text("Bob tries")
    expect(editor(alice_page)).not_to_contain_text("Bob tries")
    screenshot(bob_page, "notifications-demoted")

    # Removed: Bob's editor closes with a message naming who did it.
    dialog.get_by_role("button", name="Remove bob").click()
    expect(bob_page.get_by_role("alert")).to_contain_text(
        "alice removed you from “Q4 plan”.", timeout=LIVE
    )
    expect(status(bob_page)).to_have_text("No access")
    screenshot(bob_page, "notifications-removed")

    # Back on his list, Bob sees Alice delete "Old notes" in her list.
    bob_page.get_by_role("link", name="Back to your documents").click()
    expect(doc_row(bob_page, "Old notes")).to_be_visible()
    expect(doc_row(bob_page, "Q4 plan")).to_have_count(0)
    dialog.get_by_role("button", name="Close").click()
    alice_page.get_by_role("link", name="All documents").click()
    alice_page.get_by_role("button", name="Delete Old notes").click()
    alice_page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(doc_row(bob_page, "Old notes")).to_have_count(0, timeout=LIVE)
    expect(toast(bob_page, "alice deleted “Old notes”.")).to_be_visible()
    expect(bell_count(bob_page)).to_have_text("3")  # viewer, removed, deleted

    # The panel links only to documents that still exist.
    bell(bob_page).click()
    panel = bob_page.get_by_role("region", name="Notifications")
    expect(panel.get_by_role("listitem").nth(0)).to_contain_text("alice deleted “Old notes”.")
    expect(panel.get_by_role("listitem").nth(0).get_by_role("link")).to_have_count(0)
    screenshot(bob_page, "notifications-deleted")
    assert_not_reloaded(bob_page)


def test_a_member_demoted_while_typing_cannot_write_and_promoted_can_again(
    tandem: TandemProcess,
    replica_b: TandemProcess,
    context_on: Callable[[TandemProcess], BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    document = shared_document(tandem, alice, "Minutes", bob="editor")
    alice_token = token(tandem, alice)
    alice_page = open_document(context_on(tandem), alice, document["id"])
    bob_page = open_document(context_on(replica_b), bob, document["id"])
    mark_page(bob_page)
    type_at_end(bob_page, "First line.")
    expect(editor(alice_page)).to_contain_text("First line.")

    path = f"/api/documents/{document['id']}/members/bob/"
    api(tandem, "PATCH", path, {"role": "viewer"}, alice_token)
    expect(editor(bob_page)).to_have_attribute("contenteditable", "false", timeout=LIVE)
    bob_page.keyboard.type("Not allowed.")
    expect(editor(alice_page)).not_to_contain_text("Not allowed.")

    api(tandem, "PATCH", path, {"role": "editor"}, alice_token)
    expect(editor(bob_page)).to_have_attribute("contenteditable", "true", timeout=LIVE)
    expect(toast(bob_page, "alice made you an editor of “Minutes”.")).to_be_visible()
    type_at_end(bob_page, " Allowed again.")
    expect(editor(alice_page)).to_contain_text("Allowed again.")
    expect(status(bob_page)).to_have_text("Saved")

    # Deleted while open: the editor closes, saying who deleted it.
    api(tandem, "DELETE", f"/api/documents/{document['id']}/", None, alice_token)
    expect(bob_page.get_by_role("alert")).to_contain_text("alice deleted “Minutes”.", timeout=LIVE)
    expect(editor(bob_page)).to_have_attribute("contenteditable", "false")
    assert_not_reloaded(bob_page)


def test_mention_offers_members_and_notifies_the_one_chosen(
    tandem: TandemProcess,
    replica_b: TandemProcess,
    context_on: Callable[[TandemProcess], BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob, _carol = account("alice"), account("bob"), account("carol")
    document = shared_document(tandem, alice, "Launch", bob="editor", carol="viewer")
    bob_page = log_in(context_on(replica_b), bob)
    mark_page(bob_page)
    expect(doc_row(bob_page, "Launch")).to_be_visible()
    bell(bob_page).click()
    bob_page.get_by_role("button", name="Mark all read").click()
    expect(bell_count(bob_page)).to_be_hidden()
    bell(bob_page).click()

    alice_page = open_document(context_on(tandem), alice, document["id"])
    type_at_end(alice_page, "Ask ")
    alice_page.keyboard.type("@")
    options = alice_page.get_by_role("listbox", name="Mention someone").get_by_role("option")
    expect(options).to_have_text([re.compile("bob$"), re.compile("carol$")])  # not herself
    alice_page.keyboard.type("z")
    expect(alice_page.get_by_text("No member by that name")).to_be_visible()
    alice_page.keyboard.press("Escape")
    expect(alice_page.get_by_role("listbox", name="Mention someone")).to_have_count(0)
    alice_page.keyboard.press("Backspace")
    alice_page.keyboard.press("Backspace")
    alice_page.keyboard.type("@")
    expect(options).to_have_count(2)
    alice_page.keyboard.press("ArrowDown")
    alice_page.keyboard.press("ArrowUp")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    alice_page.keyboard.press("Enter")
    alice_page.keyboard.type("about the date.")
    mention = editor(alice_page).locator("span.mention[data-type='mention']")
    expect(mention).to_have_attribute("data-id", "bob")
    expect(mention).to_have_text("@bob")
    expect(status(alice_page)).to_have_text("Saved")
    screenshot(alice_page, "mention")

    expect(
        toast(bob_page, re.compile(r"alice mentioned you in “Launch”: “Ask @bob"))
    ).to_be_visible(timeout=LIVE)
    expect(bell_count(bob_page)).to_have_text("1")
    bell(bob_page).click()
    item = bob_page.get_by_role("region", name="Notifications").get_by_role("listitem").first
    expect(item).to_contain_text("mentioned you in “Launch”")
    item.get_by_role("link").click()
    expect(bob_page).to_have_url(re.compile(f"/d/{document['id']}$"))
    expect(editor(bob_page).locator("span.mention")).to_have_text("@bob")
    expect(bell_count(bob_page)).to_be_hidden()
    assert_not_reloaded(bob_page)


def test_without_websockets_the_bell_follows_over_server_sent_events(
    tandem: TandemProcess,
    replica_b: TandemProcess,
    context_on: Callable[[TandemProcess], BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    context = context_on(replica_b)
    refused: list[str] = []
    streams: list[str] = []

    def refuse(ws: WebSocketRoute) -> None:
        # As a proxy that does not pass WebSockets on: the socket closes before `ready`.
        refused.append(ws.url)
        ws.close(code=1011)

    def count_stream(route: Route) -> None:
        streams.append(route.request.url)
        route.continue_()

    context.route_web_socket(re.compile(r"/ws/notifications/"), refuse)
    context.route(re.compile(r"/api/notifications/stream/"), count_stream)
    bob_page = log_in(context, bob)
    mark_page(bob_page)
    expect(bob_page.get_by_role("heading", name="No documents yet")).to_be_visible()
    for _ in range(100):  # two refused sockets, then the stream
        if streams:
            break
        bob_page.wait_for_timeout(100)
    assert len(refused) >= 2, refused
    assert streams, "no SSE stream was opened after the WebSocket was refused"
    assert all("token=" in url and "after=" in url for url in streams)
    expect(bob_page.locator(".bell-wrap")).to_have_attribute("data-live", "sse")

    shared_document(tandem, alice, "By stream", bob="viewer")
    expect(toast(bob_page, "alice shared “By stream” with you as a viewer.")).to_be_visible(
        timeout=LIVE
    )
    expect(doc_row(bob_page, "By stream").get_by_text("Viewer", exact=True)).to_be_visible()
    expect(bell_count(bob_page)).to_have_text("1")
    assert_not_reloaded(bob_page)


def test_what_happened_while_the_member_s_replica_was_down_arrives_once(
    tandem: TandemProcess,
    replica_b: TandemProcess,
    context_on: Callable[[TandemProcess], BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    alice_token = token(tandem, alice)
    old = shared_document(tandem, alice, "Old", bob="editor")
    bob_page = log_in(context_on(replica_b), bob)
    mark_page(bob_page)
    expect(doc_row(bob_page, "Old")).to_be_visible()
    expect(bob_page.locator(".bell-wrap")).to_have_attribute("data-live", "websocket")

    # Bob's replica dies (kill -9); meanwhile Alice shares, renames and shares again.
    replica_b.kill()
    shared_document(tandem, alice, "New one", bob="viewer")
    api(tandem, "PATCH", f"/api/documents/{old['id']}/", {"title": "Renamed"}, alice_token)
    shared_document(tandem, alice, "New two", bob="editor")

    # It comes back on the same address: the page reconnects and replays what it missed.
    log = ARTIFACTS / "notifications-replica-b-again.server.log"
    with TandemProcess(server_env(), port=replica_b.port, log_path=log):
        expect(bob_page.locator(".bell-wrap")).to_have_attribute(
            "data-live", re.compile("websocket|sse"), timeout=40_000
        )
        for title in ["New one", "Renamed", "New two"]:
            expect(doc_row(bob_page, title)).to_be_visible()
        expect(doc_row(bob_page, "Old")).to_have_count(0)
        expect(bell_count(bob_page)).to_have_text("4")  # the first share, and three missed
        bell(bob_page).click()
        items = bob_page.get_by_role("region", name="Notifications").get_by_role("listitem")
        expect(items).to_have_text(
            [
                re.compile("alice shared “New two” with you as an editor."),
                re.compile("alice renamed “Old” to “Renamed”."),
                re.compile("alice shared “New one” with you as a viewer."),
                re.compile("alice shared “Old” with you as an editor."),
            ]
        )
        for text in ["“New one”", "“Renamed”", "“New two”"]:
            expect(toast(bob_page, text)).to_have_count(1)
        assert_not_reloaded(bob_page)
