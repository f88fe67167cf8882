"""The database threads: Django's connection checks around each call, without a round trip
of their own while the connection is busy."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

P = ParamSpec("P")
R = TypeVar("R")

STALE_AFTER = 1.0
"""Seconds a thread's connection may sit unused and still be trusted without a health check."""

_last_use = threading.local()  # per thread, as Django's connections are


def check_connection() -> None:
    """Django's checks before a call, with ``CONN_HEALTH_CHECKS``'s ``SELECT 1`` only when
    this thread's connection may have gone stale.

    ``close_old_connections()`` closes a connection past ``CONN_MAX_AGE``, left outside
    autocommit, or broken by an error, and asks for a health check before its next query.
    That check is a round trip as long as many a call's own query: at a storm of
    connections it was a third of the database thread's time. A connection used in the last
    ``STALE_AFTER`` seconds skips it; if it broke meanwhile, the call fails, Django marks the
    connection's error, and ``release_connection`` closes it for the next call."""
    close_old_connections()
    if time.monotonic() - getattr(_last_use, "at", -STALE_AFTER) < STALE_AFTER:
        connection.health_check_done = True  # type: ignore[attr-defined]  # not in the stubs


def release_connection() -> None:
    """Django's checks after a call (a connection an error broke is closed), and the time of
    this use."""
    close_old_connections()
    _last_use.at = time.monotonic()


def checked(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` between ``check_connection`` and ``release_connection``."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        check_connection()
        try:
            return function(*args, **kwargs)
        finally:
            release_connection()

    return call


def in_db_thread(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run a synchronous ORM function in Channels' database thread (the one thread-sensitive
    thread), the connection checked as ``check_connection`` says."""
    return cast(Callable[P, Awaitable[R]], sync_to_async(checked(function), thread_sensitive=True))
