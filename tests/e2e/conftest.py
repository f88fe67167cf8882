"""Browser tests: Debian's Chromium driven by Playwright against a real Tandem process.

Each test starts its own server on the test database (``transactional_db``, so what the test
writes is committed and the server sees it) and opens fresh browser contexts. Screenshots go
to ``test-artifacts/e2e/`` (not committed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.support import rest
from tests.support.factories import PASSWORD
from tests.support.servers import ROOT, TandemProcess, server_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"

expect.set_options(timeout=10_000)


@dataclass
class Account:
    username: str
    password: str = PASSWORD


@pytest.fixture(scope="session")
def _prerequisites() -> None:
    index = Path(settings.FRONTEND_DIST) / "index.html"
    if not index.exists():
        pytest.exit(
            f"The browser editor is not built ({index} is missing): run `make test`, which "
            "builds frontend/, or `make frontend`.",
            returncode=3,
        )
    if not CHROMIUM.exists():
        pytest.exit(
            "Chromium is missing at /usr/bin/chromium: run `make test` (it installs Debian's "
            "chromium package) or `apt-get install -y chromium`.",
            returncode=3,
        )


@pytest.fixture
def playwright(_prerequisites: None, transactional_db: None) -> Iterator[Playwright]:
    """Playwright, per test: its sync API runs an event loop in this thread, and Django refuses
    database work while one runs, so it must stop before the test database is flushed (this
    fixture depends on ``transactional_db`` to be torn down first)."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def tandem(transactional_db: None, request: pytest.FixtureRequest) -> Iterator[TandemProcess]:
    """A Tandem server on the test database; its log is kept beside the screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / f"{request.node.name}.server.log"
    log.unlink(missing_ok=True)
    overrides = getattr(request, "param", {})
    with TandemProcess(server_env(**overrides), log_path=log) as server:
        yield server


@pytest.fixture
def new_context(browser: Browser, tandem: TandemProcess) -> Iterator[Callable[..., BrowserContext]]:
    """Make browser contexts (one per person) pointed at the test's server."""
    contexts: list[BrowserContext] = []

    def _new(**options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(base_url=tandem.http_url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()


@pytest.fixture
def account(tandem: TandemProcess) -> Callable[[str], Account]:
    """Register a user through the server's API (so the server hashes the password)."""

    def _account(username: str) -> Account:
        rest.register(tandem, username, PASSWORD)
        return Account(username)

    return _account


def token(server: TandemProcess, who: Account) -> str:
    return rest.token(server, who.username, who.password)


def shared_document(
    server: TandemProcess, owner: Account, title: str, **members: str
) -> dict[str, Any]:
    """A new document of ``owner``'s, shared with ``members`` (username: role)."""
    return rest.shared_document(server, token(server, owner), title, **members)


def log_in(context: BrowserContext, who: Account, path: str = "/") -> Page:
    """Log in through the login form and land on ``path``."""
    page = context.new_page()
    page.goto(f"/login?next={path}" if path != "/" else "/login")
    page.get_by_label("Username").fill(who.username)
    page.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Log in").click()
    if path == "/":
        expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    else:
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    return page


def open_document(context: BrowserContext, who: Account, document_id: str) -> Page:
    page = log_in(context, who, f"/d/{document_id}")
    expect(page.locator(".ProseMirror")).to_be_visible()
    expect(status(page)).not_to_have_attribute("data-state", re.compile("connecting"))
    return page


def type_at_end(page: Page, text: str) -> None:
    editor(page).click()
    page.keyboard.press("Control+End")
    for i, line in enumerate(text.split("\n")):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)


def status(page: Page) -> Any:
    return page.locator(".status")


def editor(page: Page) -> Any:
    return page.locator(".ProseMirror")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
