"""The event-loop lag monitor sees a blocked loop, warns sparingly, and is exported."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from backend.collab.edge import loop_lag
from backend.collab.edge.loop_lag import LoopLagMonitor, StallWatchdog
from backend.collab.edge.metrics import REPLICA
from tests.support.servers import TandemProcess, server_env

LAG = "tandem_event_loop_lag_seconds"


def _sample(suffix: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(f"{LAG}{suffix}", {"replica": REPLICA, **labels})
    return value or 0.0


def _stall_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == loop_lag.__name__ and record.levelno == logging.WARNING
    ]


async def _block_loop(seconds: float) -> None:
    """Block the loop from a callback, as a synchronous call in a handler would."""
    asyncio.get_running_loop().call_soon(time.sleep, seconds)
    await asyncio.sleep(0)


async def test_a_blocked_loop_is_observed_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    count, total = _sample("_count"), _sample("_sum")
    under_100ms, under_500ms = _sample("_bucket", le="0.1"), _sample("_bucket", le="0.5")
    monitor = LoopLagMonitor(interval=0.05)
    monitor.start()
    try:
        await asyncio.sleep(0.12)
        assert not _stall_warnings(caplog), "an idle loop is not stalled"
        await _block_loop(0.3)
        await asyncio.sleep(0.1)
    finally:
        await monitor.stop()

    assert _sample("_count") - count >= 3
    assert _sample("_sum") - total >= 0.2
    assert _sample("_bucket", le="0.1") - under_100ms == _sample("_count") - count - 1
    assert _sample("_bucket", le="0.5") - under_500ms == _sample("_count") - count
    [warning] = _stall_warnings(caplog)
    late_ms = re.search(r"(\d+) ms late", warning)
    assert late_ms, warning
    assert 200 <= int(late_ms.group(1)) < 400


async def test_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    async def stall_twice(monitor: LoopLagMonitor) -> None:
        monitor.start()
        try:
            for _ in range(2):
                await _block_loop(0.1)
                await asyncio.sleep(0.05)
        finally:
            await monitor.stop()

    await stall_twice(LoopLagMonitor(interval=0.02, threshold=0.05, warn_every=0))
    assert len(_stall_warnings(caplog)) == 2, "without a limit each stall warns"
    caplog.clear()

    await stall_twice(LoopLagMonitor(interval=0.02, threshold=0.05, warn_every=10))
    assert len(_stall_warnings(caplog)) == 1


def _stall_stacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [message for message in _stall_warnings(caplog) if "stack while it stalled" in message]


def _hold_the_loop_in_a_known_function() -> None:
    time.sleep(0.3)


def _hold_the_loop_elsewhere() -> None:
    time.sleep(0.15)


def _watchdogs() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "loop-stall-watchdog"]


async def test_a_stall_logs_the_stack_of_what_blocked_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watchdog = StallWatchdog(poll=0.02)
    watchdog.start()
    try:
        await asyncio.sleep(0.15)
        assert not _stall_stacks(caplog), "an idle loop is not stalled"
        asyncio.get_running_loop().call_soon(_hold_the_loop_in_a_known_function)
        await asyncio.sleep(0)  # back once the stall is over
        await asyncio.sleep(0.1)
    finally:
        watchdog.stop()

    [stack] = _stall_stacks(caplog)
    stalled_ms = re.search(r"stalled for (\d+) ms", stack)
    assert stalled_ms, stack
    assert 250 <= int(stalled_ms.group(1)) < 450, stack
    on_cpu_ms = re.search(r"the loop thread was on the CPU (\d+) ms", stack)
    assert on_cpu_ms, stack
    assert int(on_cpu_ms.group(1)) < 100, "a sleeping thread is off the CPU"
    assert "tests/collab/edge/test_loop_lag.py:" in stack, stack
    assert "_hold_the_loop_in_a_known_function" in stack, stack
    assert not _watchdogs(), "stopping ends the thread"


async def test_a_loop_that_keeps_answering_logs_no_stack(caplog: pytest.LogCaptureFixture) -> None:
    watchdog = StallWatchdog(poll=0.01)
    watchdog.start()
    try:
        for _ in range(20):
            time.sleep(0.02)  # noqa: ASYNC251 -- short holds, each under the threshold
            await asyncio.sleep(0.01)
        answered = watchdog._answered
    finally:
        watchdog.stop()
    assert answered is None or time.monotonic() - answered < 0.2, "the watchdog kept beating"
    assert not _stall_warnings(caplog)


async def test_stacks_are_rate_limited_and_the_rest_counted_by_site(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watchdog = StallWatchdog(poll=0.02, report_every=0.5)
    watchdog.start()
    loop = asyncio.get_running_loop()
    try:
        for hold, then in (
            (_hold_the_loop_in_a_known_function, 0.1),
            (_hold_the_loop_elsewhere, 0.6),  # reported in the next stack's counts
            (_hold_the_loop_in_a_known_function, 0.1),
        ):
            loop.call_soon(hold)
            await asyncio.sleep(0)
            await asyncio.sleep(then)
    finally:
        watchdog.stop()

    first, second = _stall_stacks(caplog)
    assert "_hold_the_loop_elsewhere" not in first
    assert "1 stalls since the last stack" in second, second
    assert re.search(
        r"by site: tests/collab/edge/test_loop_lag.py:\d+ _hold_the_loop_elsewhere \(1\)", second
    ), second


def _collect_in_a_known_function() -> None:
    gc.collect()


async def test_a_long_collection_is_reported_with_the_code_it_interrupted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A collection holds the GIL, so the watchdog's thread cannot sample during one: the
    collection's end reports it, with the stack that triggered it."""
    heap: list[list[object]] = []
    took = 0.0
    while took < 0.06 and len(heap) < 4_000_000:  # enough objects for a long collection
        heap.extend([] for _ in range(200_000))
        started = time.perf_counter()
        gc.collect()
        took = time.perf_counter() - started
    watchdog = StallWatchdog(poll=0.005, threshold=0.04, report_every=0)
    watchdog.start()
    try:
        asyncio.get_running_loop().call_soon(_collect_in_a_known_function)
        await asyncio.sleep(0)
        await asyncio.sleep(0.05)
    finally:
        watchdog.stop()
        heap.clear()

    reports = [stack for stack in _stall_stacks(caplog) if "_collect_in_a_known_function" in stack]
    assert reports, _stall_stacks(caplog)
    assert "[gc gen 2] tests/collab/edge/test_loop_lag.py:" in reports[0], reports[0]


async def test_the_stall_watchdog_can_be_turned_off(settings: object) -> None:
    for enabled, threads in ((False, 0), (True, 1)):
        settings.LOOP_STALL_STACKS = enabled  # type: ignore[attr-defined]
        loop_lag.start_loop_lag_monitor()
        try:
            assert len(_watchdogs()) == threads
        finally:
            await loop_lag.stop_loop_lag_monitor()
        assert not _watchdogs()


async def test_a_stopped_monitor_observes_nothing() -> None:
    observed: list[float] = []
    monitor = LoopLagMonitor(interval=0.01, observe=observed.append)
    monitor.start()
    await asyncio.sleep(0.05)
    await monitor.stop()
    assert not monitor.running
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "loop-lag"]
    assert observed, "the monitor ran"
    seen = len(observed)
    await asyncio.sleep(0.05)
    assert len(observed) == seen


def test_the_server_exports_its_loop_lag(transactional_db: None, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with TandemProcess(server_env(), log_path=log) as server:
        deadline = time.monotonic() + 5
        while server.metric(f"{LAG}_count") < 2 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert server.metric(f"{LAG}_count") >= 2
        assert server.metric(f"{LAG}_bucket") > 0, "exported as a histogram"
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status says -15.
        assert server.stop() in (0, -15)
    text = log.read_text()
    assert "Application shutdown complete" in text, text
    assert "Task was destroyed" not in text
    assert "Traceback" not in text
