"""The event-loop lag monitor sees a blocked loop, warns sparingly, and is exported."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from backend.collab.edge import loop_lag
from backend.collab.edge.loop_lag import LoopLagMonitor
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
