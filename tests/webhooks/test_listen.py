"""The deliverer's ``LISTEN`` connection is opened as Django opens its own: the database's
``OPTIONS`` (``sslmode``, ``application_name``...) hold for it too."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from backend.webhooks.worker import Deliverer
from tests.support.waiting import wait_until_async

NAME = "tandem-listen-test"


def _listening() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND query LIKE 'LISTEN %%'",
                [NAME],
            )
            (count,) = cursor.fetchone()
            return bool(count)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_the_listener_connects_with_the_database_options(monkeypatch: Any) -> None:
    db = connections["default"].settings_dict
    monkeypatch.setitem(db, "OPTIONS", {**db["OPTIONS"], "application_name": NAME})

    async def main() -> None:
        listener = asyncio.create_task(Deliverer().listen())
        try:
            await wait_until_async(
                sync_to_async(_listening, thread_sensitive=False),
                what=f"a LISTEN session named {NAME}",
                timeout=10,
            )
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    asyncio.run(main())
