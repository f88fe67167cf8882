"""The process has begun to shut down: long-lived responses end now.

uvicorn waits for open HTTP responses before it runs the shutdown (up to
GRACEFUL_SHUTDOWN_SECONDS), and a notification stream never ends by itself: every replica
restart would take the whole grace period. The server entry point (``serve.py``) calls
``begin`` when SIGTERM arrives; what registered with ``on_drain`` ends its responses (a
browser's EventSource reconnects, to another replica, from its Last-Event-ID). No Django
import here: ``serve.py`` loads this before the application.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_callbacks: list[Callable[[], None]] = []
_begun = False


def on_drain(callback: Callable[[], None]) -> None:
    """Call ``callback`` (on the event loop's thread) when shutdown begins."""
    _callbacks.append(callback)


def begun() -> bool:
    return _begun


def begin() -> None:
    global _begun
    if _begun:
        return
    _begun = True
    for callback in list(_callbacks):
        try:
            callback()
        except Exception:
            logger.exception("a drain callback failed; its responses end at the grace timeout")
