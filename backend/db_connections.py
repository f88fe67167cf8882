"""Connections of our own to Django's database, beside Django's: opened with its parameters."""

from __future__ import annotations

from typing import Any

from django.db import connection


def own_connection_params() -> dict[str, Any]:
    """psycopg's parameters for a connection of our own (the rooms' commits on the event
    loop, the webhook listener): those Django opens its own with, ``OPTIONS`` included
    (``sslmode``, ``options``...), less what only Django's cursors use. Django's
    ``assume_role`` is not applied to them."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)  # Django's synchronous cursor classes
    params.pop("context", None)  # Django's adapters; our own statements pass plain values
    return params
