"""``asyncio.Queue`` and ``asyncio.Event`` for one connection, allocating only while in use.

uvicorn gives every WebSocket an ``asyncio.Queue`` (four deques and an ``Event``, about
3 KiB) and an ``asyncio.Event`` for back-pressure (a deque, about 800 bytes), though an idle
connection's queue is empty and nobody waits on the event. These keep the same methods
uvicorn calls and hold nothing but a reference or two until something waits.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


class MessageQueue(Generic[T]):
    """An unbounded FIFO with ``put_nowait``, ``get`` and ``empty``, as ``asyncio.Queue``'s."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        # A list: uvicorn pauses reading while a message waits, so the queue stays short.
        self._items: list[T] = []
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._getters:
            _wake(self._getters)

    async def get(self) -> T:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(waiter)
            try:
                await waiter
            finally:
                self._getters.remove(waiter)
                if not self._getters:
                    self._getters = None
        return self._items.pop(0)


class Flag:
    """``asyncio.Event``'s ``is_set``, ``set``, ``clear`` and ``wait``."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        if waiters:
            _wake(waiters)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None
        return True
