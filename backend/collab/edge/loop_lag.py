"""The event loop's lag: a timer that measures how late it wakes, exported as a metric.

Code that blocks the loop (a synchronous call, a large document encoded inline) stalls every
connection the process serves at once, and no other metric shows it. The monitor sleeps a
fixed interval, observes how much later than asked it woke up in
``tandem_event_loop_lag_seconds``, and logs a warning (at most once per ``warn_every``
seconds, so a stalling loop does not flood the log) when one lag exceeds ``threshold``; the
warning's time is what operators correlate with other logs and traces.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable

from backend.collab.edge.metrics import event_loop_lag_seconds

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.25
THRESHOLD_SECONDS = 0.1
WARN_EVERY_SECONDS = 10.0


class LoopLagMonitor:
    """Measures the running loop's lateness every ``interval`` seconds until stopped."""

    def __init__(
        self,
        *,
        interval: float = INTERVAL_SECONDS,
        threshold: float = THRESHOLD_SECONDS,
        warn_every: float = WARN_EVERY_SECONDS,
        observe: Callable[[float], None] = event_loop_lag_seconds.observe,
    ) -> None:
        self.interval = interval
        self.threshold = threshold
        self.warn_every = warn_every
        self._observe = observe
        self._task: asyncio.Task[None] | None = None
        self._last_warning: float | None = None
        self._unreported = 0  # stalls over the threshold since the last warning

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start measuring on the running loop (again after ``stop``)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop measuring and wait until the timer is gone."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})  # waits without taking the task's cancellation as ours

    async def _run(self) -> None:
        while True:
            due = time.monotonic() + self.interval
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self._record(max(0.0, now - due), now)

    def _record(self, lag: float, now: float) -> None:
        self._observe(lag)
        if lag < self.threshold:
            return
        if self._last_warning is not None and now - self._last_warning < self.warn_every:
            self._unreported += 1
            return
        logger.warning(
            "event loop stalled: a timer ran %.0f ms late (warning above %.0f ms; "
            "%d more stalls since the last warning); something blocked the loop",
            lag * 1000,
            self.threshold * 1000,
            self._unreported,
        )
        self._last_warning = now
        self._unreported = 0


_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLagMonitor] = (
    weakref.WeakKeyDictionary()
)


def start_loop_lag_monitor() -> None:
    """Start the running loop's monitor unless it already has one."""
    loop = asyncio.get_running_loop()
    if loop not in _monitors:
        monitor = _monitors[loop] = LoopLagMonitor()
        monitor.start()


async def stop_loop_lag_monitor() -> None:
    """Stop the running loop's monitor, if it has one."""
    monitor = _monitors.pop(asyncio.get_running_loop(), None)
    if monitor is not None:
        await monitor.stop()
