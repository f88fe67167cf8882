"""Fixtures of the webhook tests: loopback receivers allowed, fast retries, and a deliverer
run in the test's own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections

from backend.webhooks.worker import Deliverer, in_webhook_thread
from tests.support.waiting import wait_until_async


@pytest.fixture(autouse=True)
def _webhook_settings(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 0.4
    settings.WEBHOOK_POLL_SECONDS = 0.05
    settings.WEBHOOK_CHANGE_INTERVAL_SECONDS = 0.2
    settings.WEBHOOK_TIMEOUT_SECONDS = 2.0


@pytest.fixture
def _short_connections() -> Iterator[None]:
    """The deliverer's database threads close their connection after each call, so none
    outlives the test (the test database could not be flushed or dropped)."""
    db = connections["default"].settings_dict
    before = db["CONN_MAX_AGE"]
    db["CONN_MAX_AGE"] = 0
    yield
    db["CONN_MAX_AGE"] = before


@pytest.fixture
def deliver(_short_connections: None) -> Callable[..., Any]:
    """``deliver(until, what=...)``: run a deliverer until ``until()`` (a synchronous ORM
    check) is true; returns its value."""

    def run(until: Callable[[], Any], *, what: str, timeout: float = 15) -> Any:
        async def main() -> Any:
            deliverer = Deliverer()
            deliverer.start()
            try:
                return await wait_until_async(
                    lambda: in_webhook_thread(until), what=what, timeout=timeout, every=0.05
                )
            finally:
                await deliverer.stop()

        return asyncio.run(main())

    return run
