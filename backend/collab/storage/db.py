"""Typed access to Channels' ``database_sync_to_async``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def in_db_thread(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run a synchronous ORM function in Channels' database thread, closing old connections."""
    return cast(Callable[P, Awaitable[R]], database_sync_to_async(function))
