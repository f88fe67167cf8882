"""Accounts and the document list, in a real browser."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable

from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import Account, log_in, screenshot, token
from tests.support.factories import PASSWORD
from tests.support.rest import api
from tests.support.servers import TandemProcess


def test_register_create_rename_and_delete_documents(
    tandem: TandemProcess, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context().new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    screenshot(page, "login")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("12345678")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("This password is entirely numeric.")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="No documents yet")).to_be_visible()
    screenshot(page, "documents-empty")

    page.get_by_role("button", name="New document").first.click()
    page.get_by_label("Title").fill("Trip plan")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/d/[0-9a-f-]{36}$"))
    expect(page.get_by_label("Document title")).to_have_value("Trip plan")
    page.get_by_role("link", name="All documents").click()

    row = page.get_by_role("listitem").filter(has_text="Trip plan")
    expect(row.get_by_text("Owner")).to_be_visible()
    page.get_by_role("button", name="Rename Trip plan").click()
    page.get_by_label("Title").fill("Lisbon trip")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.get_by_role("link", name=re.compile("Lisbon trip"))).to_be_visible()
    screenshot(page, "documents")

    page.get_by_role("button", name="Delete Lisbon trip").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="No documents yet")).to_be_visible()

    # The session survives a reload; logging out ends it.
    page.reload()
    expect(page.get_by_role("heading", name="No documents yet")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_shared_documents_show_their_role(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    alice, bob = account("alice"), account("bob")
    alice_token = token(tandem, alice)
    notes = api(tandem, "POST", "/api/documents/", {"title": "Team notes"}, alice_token)
    plan = api(tandem, "POST", "/api/documents/", {"title": "Roadmap"}, alice_token)
    api(
        tandem,
        "POST",
        f"/api/documents/{notes['id']}/members/",
        {"username": "bob", "role": "editor"},
        alice_token,
    )
    api(
        tandem,
        "POST",
        f"/api/documents/{plan['id']}/members/",
        {"username": "bob", "role": "viewer"},
        alice_token,
    )

    page = log_in(new_context(), bob)
    notes_row = page.get_by_role("listitem").filter(has_text="Team notes")
    plan_row = page.get_by_role("listitem").filter(has_text="Roadmap")
    expect(notes_row.get_by_text("Editor", exact=True)).to_be_visible()
    expect(plan_row.get_by_text("Viewer", exact=True)).to_be_visible()
    expect(notes_row.get_by_text("alice")).to_be_visible()
    # Editors may rename, only owners delete; viewers do neither.
    expect(notes_row.get_by_role("button", name="Rename Team notes")).to_be_visible()
    expect(notes_row.get_by_role("button", name="Delete Team notes")).to_have_count(0)
    expect(plan_row.get_by_role("button", name="Rename Roadmap")).to_have_count(0)
    expect(plan_row.get_by_role("button", name="Delete Roadmap")).to_have_count(0)

    # A member may leave a shared document.
    plan_row.get_by_role("button", name="Leave Roadmap").click()
    page.get_by_role("dialog").get_by_role("button", name="Leave", exact=True).click()
    expect(page.get_by_role("link", name=re.compile("Roadmap"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Team notes"))).to_be_visible()


def test_client_routes_serve_the_app_and_other_routes_keep_working(tandem: TandemProcess) -> None:
    def get(path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(f"{tandem.http_url}{path}", timeout=5) as response:  # noqa: S310
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read()

    for path in ["/", "/login", "/register", "/d/7f0c1b7e-2a4f-4d5e-9a0b-1c2d3e4f5a6b"]:
        code, content_type, body = get(path)
        assert (code, content_type) == (200, "text/html; charset=utf-8"), path
        assert b'<div id="app">' in body
    assert get("/healthz")[0] == 200
    assert get("/api/documents/")[0] == 401
    assert get("/api/schema/")[0] == 200
    assert get("/favicon.svg")[0] == 200
    assert get("/no-such-page")[0] == 404
    assert get("/d/not-a-document-id")[0] == 404
    code, _, body = get("/admin/login/")
    assert code == 200
    assert b"Django" in body


def test_phone_width_document_list(
    tandem: TandemProcess,
    new_context: Callable[..., BrowserContext],
    account: Callable[[str], Account],
) -> None:
    width = 390
    alice = account("alice")
    api(tandem, "POST", "/api/documents/", {"title": "Groceries"}, token(tandem, alice))
    context = new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True)
    page = log_in(context, alice)
    expect(page.get_by_role("link", name=re.compile("Groceries"))).to_be_visible()
    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, "phone-documents")
