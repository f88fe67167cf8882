"""Waiting for what a test can observe, instead of sleeping for a time that is guessed.

``wait_until`` calls a predicate until it returns something true and returns that; after
``timeout`` seconds it fails with an AssertionError naming what was awaited. ``what`` may be
a function, called only then, to say what was seen last. ``wait_until_async`` is the same for
async tests, and takes predicates that return an awaitable (a coroutine or ``db_call(...)``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
Description = str | Callable[[], object]


def _failure(what: Description, timeout: float) -> AssertionError:
    said = what() if callable(what) else what
    return AssertionError(f"gave up after {timeout:g} s waiting for {said}")


def wait_until(
    predicate: Callable[[], T], *, what: Description, timeout: float = 10, every: float = 0.05
) -> T:
    """Poll ``predicate`` every ``every`` seconds until it is true; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise _failure(what, timeout)
        time.sleep(every)


async def wait_until_async(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    what: Description,
    timeout: float = 10,
    every: float = 0.05,
) -> T:
    """``wait_until`` in an event loop: the loop keeps running while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _failure(what, timeout)
        await asyncio.sleep(every)
