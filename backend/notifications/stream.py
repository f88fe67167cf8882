"""``GET /api/notifications/stream/``: the caller's notifications as Server-Sent Events.

For clients that cannot open a WebSocket; the same hub, replay and limits as
``ws/notifications/``. Authentication as for WebSockets: an access token (simplejwt, of
the current token generation) in ``Authorization: Bearer`` or ``?token=``; anything else
answers 401 ``{"detail": ...}``. ``Last-Event-ID`` (what a browser's EventSource sends when
it reconnects) or else ``?after=<n>`` replays every notification after ``n``; a malformed one
answers 400; over NOTIFICATIONS_MAX_CONNECTIONS_PER_USER open notification connections
answers 429. The stream:

    retry: 3000

    id: <n>
    event: notification
    data: {...NotificationOutput...}

    id: <head>
    event: ready
    data: {"head": <head>, "unread": <count>}

    : keepalive                    (every SSE_HEARTBEAT_SECONDS without an event)

``ready`` carries an id too, so an EventSource reconnecting without having received any
notification still resumes from where it stood. The stream ends when the token expires or
is revoked ("log out everywhere", within LOG_CHECK_SECONDS), when over 1,000
notifications wait for a client that does not read: reconnect (with a fresh token), and
when the server begins to shut down (``backend.draining``: under uvicorn, the default), so
a replica's restart is not held for GRACEFUL_SHUTDOWN_SECONDS by open streams.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from backend import draining
from backend.collab.storage.db import in_db_thread
from backend.documents.tokens import CLAIM, RevocableJWTAuthentication
from backend.notifications.consumers import connections, parse_after
from backend.notifications.hub import Listener, Opening, Payload, get_hub

# Notifications waiting for a client that does not read; past it the stream ends and the
# client resumes with Last-Event-ID (the inbox holds them).
MAX_WAITING = 1000
UNAUTHENTICATED = "Give an access token: Authorization: Bearer <token> or ?token=<token>."


@dataclass(frozen=True)
class Caller:
    user_id: int
    expires_at: float  # epoch seconds
    token_generation: int


def _authenticate_sync(raw: str) -> Caller | None:
    """Who a valid, current access token of an active user belongs to (the REST API's
    rules, which the WebSocket handshake applies too)."""
    auth = RevocableJWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        user = auth.get_user(token)
    except (InvalidToken, AuthenticationFailed, TokenError):
        return None
    return Caller(int(user.pk), float(token["exp"]), int(token.get(CLAIM, 0)))


_authenticate = in_db_thread(_authenticate_sync)


def _raw_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.GET.get("token", "")


def _event(data: dict[str, Any], *, event: str, id: int) -> bytes:
    body = json.dumps(data, separators=(",", ":"))
    return f"id: {id}\nevent: {event}\ndata: {body}\n\n".encode()


async def notification_stream(request: HttpRequest) -> HttpResponseBase:
    """The caller's notifications as ``text/event-stream``."""
    raw = _raw_token(request)
    caller = await _authenticate(raw) if raw else None
    if caller is None:
        return JsonResponse({"detail": UNAUTHENTICATED}, status=401)
    try:
        after = parse_after(request.headers.get("Last-Event-ID") or request.GET.get("after"))
    except ValueError:
        return JsonResponse({"detail": "Last-Event-ID and after are whole numbers."}, status=400)
    if not connections.try_open(caller.user_id, settings.NOTIFICATIONS_MAX_CONNECTIONS_PER_USER):
        return JsonResponse(
            {"detail": "Too many open notification connections; close some."}, status=429
        )
    seat = _Seat(caller.user_id)
    events = _events(caller, after, seat)
    # A client gone before the first byte: Django never starts the generator, so its
    # ``finally`` never runs; the seat is then freed when the generator is collected.
    weakref.finalize(events, seat.release)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


class _Seat:
    """One of the user's NOTIFICATIONS_MAX_CONNECTIONS_PER_USER, released once."""

    def __init__(self, user_id: int) -> None:
        self.user_id: int | None = user_id

    def release(self) -> None:
        if self.user_id is not None:
            connections.close(self.user_id)
            self.user_id = None


async def _events(caller: Caller, after: int | None, seat: _Seat) -> AsyncIterator[bytes]:
    """Replay, ``ready``, then live events and heartbeats until the token expires or is
    revoked, or the client goes (Django then cancels this generator; ``finally`` releases
    the seat)."""
    user_id, expires_at = caller.user_id, caller.expires_at
    queue: asyncio.Queue[Payload | None] = asyncio.Queue()

    def deliver(payload: Payload) -> None:
        if queue.qsize() < MAX_WAITING:
            queue.put_nowait(payload)
        elif queue.qsize() == MAX_WAITING:
            queue.put_nowait(None)  # the end: the client fell too far behind

    listener = Listener(
        user_id,
        deliver,
        token_generation=caller.token_generation,
        revoked=lambda: queue.put_nowait(None),
    )
    hub = None
    _open_streams.add(queue)
    if draining.begun():
        queue.put_nowait(None)
    try:
        yield b"retry: 3000\n\n"
        hub = await get_hub()
        opening: Opening = await hub.open(listener, after=after)
        for old in opening.replay:
            yield _event(old, event="notification", id=int(old["id"]))
        ready = {"head": opening.cursor, "unread": opening.unread}
        yield _event(ready, event="ready", id=opening.cursor)
        hub.go_live(listener, opening.cursor)
        while (left := expires_at - time.time()) > 0:
            try:
                timeout = min(settings.SSE_HEARTBEAT_SECONDS, left)
                payload = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                if expires_at > time.time():
                    yield b": keepalive\n\n"
                continue
            if payload is None:  # revoked, too far behind, or the server is shutting down
                return
            yield _event(payload, event="notification", id=int(payload["id"]))
    finally:
        _open_streams.discard(queue)
        if hub is not None:
            hub.close(listener)
        seat.release()


_open_streams: set[asyncio.Queue[Payload | None]] = set()


def _end_streams() -> None:
    """Shutdown began: every stream ends now (its client reconnects elsewhere)."""
    for queue in list(_open_streams):
        queue.put_nowait(None)


draining.on_drain(_end_streams)
