"""The event loop's lag: a timer that measures how late it wakes, exported as a metric, and a
watchdog that says what the loop was doing while it stalled.

Code that blocks the loop (a synchronous call, a large document encoded inline) stalls every
connection the process serves at once, and no other metric shows it. The monitor sleeps a
fixed interval, observes how much later than asked it woke up in
``tandem_event_loop_lag_seconds``, and logs a warning (at most once per ``warn_every``
seconds, so a stalling loop does not flood the log) when one lag exceeds ``threshold``; the
warning's time is what operators correlate with other logs and traces.

The warning says when, not what. The ``StallWatchdog`` (on unless ``LOOP_STALL_STACKS=0``)
is a daemon thread that wakes every ``poll`` seconds (50 ms) and posts a no-op callback to
the loop; while one stays unserved for longer than ``threshold`` it samples the loop thread's
Python stack (``sys._current_frames``) and whether a garbage collection is running, and when
the loop answers again it logs the stall's length and the compact stacks it saw (again at
most once per ``warn_every``; the stalls in between are counted by where they were). A
collection holds the GIL, so the thread cannot sample one: a collection on the loop thread
longer than ``threshold`` is reported from the gc callback with the stack it interrupted. When
the loop thread runs no Python frame of its own (native code, or waiting for the GIL), the
other threads' stacks are sampled too. Its cost is that thread's twenty wake-ups a second and
one ``call_soon_threadsafe`` each; stacks are only read during a stall.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.conf import settings

from backend.collab.edge.metrics import event_loop_lag_seconds

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.25
THRESHOLD_SECONDS = 0.1
WARN_EVERY_SECONDS = 10.0
POLL_SECONDS = 0.05
MAX_SAMPLES = 6  # stack samples kept per stall (one per poll while it lasts)
MAX_FRAMES = 8  # frames shown per stack

# Frames from these packages (paths relative to site-packages or the project) name the
# code that stalled; the innermost frame is shown whatever its file.
_NAMED_PACKAGES = (
    "backend/",
    "channels/",
    "channels_redis/",
    "uvicorn/",
    "daphne/",
    "pycrdt/",
    "redis/",
    "psycopg/",
    "psycopg_pool/",
    "django/",
    "asgiref/",
)
# The loop thread's innermost frame when it runs no Python code of its own.
_LOOP_RUNNERS = ("asyncio/runners.py", "asyncio/base_events.py")
_PROJECT_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)


class LoopLagMonitor:
    """Measures the running loop's lateness every ``interval`` seconds until stopped."""

    def __init__(
        self,
        *,
        interval: float = INTERVAL_SECONDS,
        threshold: float = THRESHOLD_SECONDS,
        warn_every: float = WARN_EVERY_SECONDS,
        observe: Callable[[float], None] = event_loop_lag_seconds.observe,
        watchdog: StallWatchdog | None = None,
    ) -> None:
        self.interval = interval
        self.threshold = threshold
        self.warn_every = warn_every
        self._observe = observe
        self._watchdog = watchdog
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
            if self._watchdog is not None:
                self._watchdog.start()

    async def stop(self) -> None:
        """Stop measuring and wait until the timer is gone."""
        task, self._task = self._task, None
        if task is not None:
            if self._watchdog is not None:
                self._watchdog.stop()
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


@dataclass(frozen=True)
class _Sample:
    """Where the loop thread was at one moment of a stall."""

    frames: tuple[str, ...]  # innermost first, "path:line function"
    gc_generation: int | None  # the collection running then, if any
    others: tuple[str, ...] = ()  # other threads' stacks, when the loop had no frame of its own

    @property
    def site(self) -> str:
        """The innermost named frame (or the innermost one): what a stall is counted by."""
        named = [frame for frame in self.frames if frame.startswith(_NAMED_PACKAGES)]
        where = named[0] if named else (self.frames[0] if self.frames else "no Python frame")
        return where if self.gc_generation is None else f"gc gen {self.gc_generation} in {where}"

    def render(self) -> str:
        stack = " < ".join(self.frames) if self.frames else "no Python frame"
        if self.gc_generation is not None:
            stack = f"[gc gen {self.gc_generation}] {stack}"
        return "".join([stack, *(f"\n      other thread {other}" for other in self.others)])


class StallWatchdog:
    """A daemon thread that samples the loop thread's stack while the loop does not answer."""

    def __init__(
        self,
        *,
        poll: float = POLL_SECONDS,
        threshold: float = THRESHOLD_SECONDS,
        report_every: float = WARN_EVERY_SECONDS,
    ) -> None:
        self.poll = poll
        self.threshold = threshold
        self.report_every = report_every
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Written by the loop (the beat) and by gc callbacks, read by the watchdog thread;
        # each is one attribute store, atomic under the GIL.
        self._posted = 0.0  # when the pending beat was posted
        self._answered: float | None = None  # when it ran; None while pending
        self._gc_seconds = 0.0  # total collection time since start
        self._gc_generation: int | None = None
        self._gc_started = 0.0
        # Read by the loop thread itself at each beat (a stall it spent off the CPU, the
        # machine busy or the GIL held elsewhere, is not code blocking the loop): the time,
        # its CPU time and the GC time at the last beat, and their differences since the one
        # before (wall, CPU, GC seconds).
        self._at_beat = (0.0, 0.0, 0.0)
        self._since_beat = (0.0, 0.0, 0.0)
        # Collections on the loop thread longer than the threshold, with the stack that
        # triggered them: the GIL is held throughout one, so the watchdog cannot sample it.
        self._gc_pauses: list[tuple[float, _Sample]] = []
        # The watchdog thread's own state.
        self._samples: list[_Sample] = []
        self._last_report: float | None = None
        self._unreported: Counter[str] = Counter()

    def start(self) -> None:
        """Start watching the running loop from a new daemon thread."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping.clear()
        self._answered = time.monotonic()
        self._at_beat = (self._answered, time.thread_time(), self._gc_seconds)
        gc.callbacks.append(self._on_gc)
        self._thread = threading.Thread(target=self._watch, name="loop-stall-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (it wakes at once) and forget the loop."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout=1.0)
        if (self._samples or self._gc_pauses) and not thread.is_alive():  # ended as it stopped
            self._stalled((self._answered or time.monotonic()) - self._posted)
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._loop = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            self._gc_generation = info["generation"]
        elif self._gc_generation is not None:
            took = time.perf_counter() - self._gc_started
            self._gc_seconds += took
            if took >= self.threshold and threading.get_ident() == self._loop_thread:
                sample = _Sample(_frames(sys._getframe(1)), self._gc_generation)
                self._gc_pauses.append((took, sample))
            self._gc_generation = None

    def _beat(self) -> None:
        now, cpu, collecting = time.monotonic(), time.thread_time(), self._gc_seconds
        then, cpu_then, collecting_then = self._at_beat
        self._since_beat = (now - then, cpu - cpu_then, collecting - collecting_then)
        self._at_beat = (now, cpu, collecting)
        self._answered = now

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll):
            now = time.monotonic()
            answered = self._answered
            if answered is None:
                if now - self._posted >= self.threshold and len(self._samples) < MAX_SAMPLES:
                    self._sample()
                continue
            if self._samples or self._gc_pauses:
                self._stalled(answered - self._posted)
            if not self._post(now):
                return

    def _post(self, now: float) -> bool:
        loop = self._loop
        if loop is None:
            return False
        self._posted, self._answered = now, None
        try:
            loop.call_soon_threadsafe(self._beat)
        except RuntimeError:  # the loop is closed: nothing left to watch
            return False
        return True

    def _sample(self) -> None:
        frames = sys._current_frames()
        stack = _frames(frames.get(self._loop_thread))
        others: tuple[str, ...] = ()
        if not stack or stack[0].startswith(_LOOP_RUNNERS):
            # No frame of the loop's own: it is in native code or waiting for the GIL, which
            # another thread may be holding.
            others = tuple(
                f"{thread.name}: {' < '.join(_frames(frames[thread.ident])[:4])}"
                for thread in threading.enumerate()
                if thread.ident in frames
                and thread.ident not in (self._loop_thread, threading.get_ident())
            )
        self._samples.append(_Sample(stack, self._gc_generation, others))

    def _stalled(self, seconds: float) -> None:
        pauses, self._gc_pauses = self._gc_pauses, []
        samples, self._samples = [sample for _, sample in pauses] + self._samples, []
        seconds = max([seconds, *(took for took, _ in pauses)])
        now = time.monotonic()
        if self._last_report is not None and now - self._last_report < self.report_every:
            self._unreported[samples[0].site] += 1
            return
        stacks = Counter(sample.render() for sample in samples)
        lines = [f"  {count} of {len(samples)}: {stack}" for stack, count in stacks.items()]
        unreported = sum(self._unreported.values())
        if unreported:
            by_site = ", ".join(f"{site} ({n})" for site, n in self._unreported.most_common(5))
            lines.append(f"  {unreported} stalls since the last stack, by site: {by_site}")
        wall, cpu, collecting = self._since_beat
        if wall >= seconds:
            detail = (
                f"in the {wall * 1000:.0f} ms since its previous beat the loop thread was on "
                f"the CPU {cpu * 1000:.0f} ms; garbage collection took {collecting * 1000:.0f} ms"
            )
        else:  # a collection after the last beat, reported by the gc callback
            detail = f"a garbage collection of {seconds * 1000:.0f} ms"
        logger.warning(
            "event loop stalled for %.0f ms (%s); the loop thread's stack while it stalled, "
            "innermost first:\n%s",
            seconds * 1000,
            detail,
            "\n".join(lines),
        )
        self._last_report = now
        self._unreported.clear()


def _frames(frame: FrameType | None) -> tuple[str, ...]:
    """The innermost frame and the named ones outside it, at most ``MAX_FRAMES``."""
    frames: list[str] = []
    innermost = True
    while frame is not None and len(frames) < MAX_FRAMES:
        path = _short_path(frame.f_code.co_filename)
        if innermost or path.startswith(_NAMED_PACKAGES):
            frames.append(f"{path}:{frame.f_lineno} {frame.f_code.co_name}")
        innermost = False
        frame = frame.f_back
    return tuple(frames)


def _short_path(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.rsplit("site-packages/", 1)[1]
    if filename.startswith(_PROJECT_ROOT + os.sep):
        return filename[len(_PROJECT_ROOT) + 1 :]
    return "/".join(filename.rsplit("/", 2)[-2:])


_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLagMonitor] = (
    weakref.WeakKeyDictionary()
)


def start_loop_lag_monitor() -> None:
    """Start the running loop's monitor (and stall watchdog) unless it already has one."""
    loop = asyncio.get_running_loop()
    if loop not in _monitors:
        watchdog = StallWatchdog() if settings.LOOP_STALL_STACKS else None
        monitor = _monitors[loop] = LoopLagMonitor(watchdog=watchdog)
        monitor.start()


async def stop_loop_lag_monitor() -> None:
    """Stop the running loop's monitor, if it has one."""
    monitor = _monitors.pop(asyncio.get_running_loop(), None)
    if monitor is not None:
        await monitor.stop()
