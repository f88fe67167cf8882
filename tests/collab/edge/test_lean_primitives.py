"""The lean queue and flag behave as the ``asyncio.Queue`` and ``asyncio.Event`` they replace
in uvicorn's WebSocket protocol."""

from __future__ import annotations

import asyncio

import pytest

from backend.collab.edge.lean_primitives import Flag, MessageQueue


async def test_queue_is_first_in_first_out_and_wakes_a_waiting_getter() -> None:
    queue = MessageQueue[int]()
    assert queue.empty()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert await asyncio.wait_for(getter, 1) == 1
    assert queue.qsize() == 1
    assert await queue.get() == 2
    assert queue.empty()


async def test_a_cancelled_get_leaves_the_queue_usable() -> None:
    queue = MessageQueue[str]()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    queue.put_nowait("after")
    assert await asyncio.wait_for(queue.get(), 1) == "after"


async def test_two_getters_each_get_one_message() -> None:
    queue = MessageQueue[int]()
    getters = [asyncio.ensure_future(queue.get()) for _ in range(2)]
    await asyncio.sleep(0)
    queue.put_nowait(1)
    queue.put_nowait(2)
    assert sorted(await asyncio.wait_for(asyncio.gather(*getters), 1)) == [1, 2]


async def test_flag_wait_returns_at_once_when_set_and_wakes_every_waiter_on_set() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    assert await asyncio.wait_for(flag.wait(), 1)
    flag.clear()
    waiter = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    flag.set()
    assert flag.is_set()
