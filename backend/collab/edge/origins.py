"""The WebSocket handshake's ``Origin`` check: scheme, host and port, as browsers mean it.

An origin is ``scheme://host[:port]`` (RFC 6454). Two origins are the same when all three
match, with the default ports filled in (http 80, https 443) and the host lowercased. A
handshake is accepted when it carries no ``Origin`` (native and command-line clients, which
authenticate by token alone), when its ``Origin`` is the server's own origin as the browser
reached it (the scheme of the connection, ``ws`` as ``http`` and ``wss`` as ``https``, and the
``Host`` header, which must be one of ``ALLOWED_HOSTS``), or when it is one of
``WS_ALLOWED_ORIGINS``. Anything else is refused before the socket opens: HTTP 403.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
# The connection's scheme names the page origin a browser opening it would have.
PAGE_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")


def parse_origin(value: str) -> Origin | None:
    """The origin ``value`` names (``scheme://host[:port]``, http or https), else ``None``."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


def allowed_origins(entries: Iterable[str]) -> frozenset[Origin]:
    """``WS_ALLOWED_ORIGINS`` parsed; an entry that is not an origin stops the server."""
    parsed = set()
    for entry in entries:
        origin = parse_origin(entry)
        if origin is None:
            raise ImproperlyConfigured(
                f"WS_ALLOWED_ORIGINS entry {entry!r} is not an origin: write each as "
                "scheme://host[:port] with scheme http or https and no path, e.g. "
                "https://tandem.example.com or http://localhost:5173. Host names alone and "
                "'*' are no longer accepted; the server's own origin is always allowed."
            )
        parsed.add(origin)
    return frozenset(parsed)


def own_origin(scope: dict[str, Any], allowed_hosts: list[str]) -> Origin | None:
    """The origin of a page on this server, as the handshake reached it; ``None`` when its
    ``Host`` is missing or not one of ``allowed_hosts`` (DNS rebinding)."""
    host = _header(scope, b"host")
    scheme = PAGE_SCHEMES.get(str(scope.get("scheme", "ws")).lower())
    if host is None or scheme is None:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return None
    return parse_origin(f"{scheme}://{host}")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for header, value in scope.get("headers", []):
        if header == name:
            return bytes(value).decode("latin-1")
    return None


class OriginCheck:
    """ASGI middleware: refuse a handshake whose ``Origin`` is neither this server's own
    origin nor one of ``allowed``; let one without ``Origin`` through. Keeps no per-connection
    state."""

    def __init__(self, application: Any, *, allowed: Iterable[str], allowed_hosts: list[str]):
        self.application = application
        self.allowed = allowed_origins(allowed)
        self.allowed_hosts = list(allowed_hosts)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        header = _header(scope, b"origin")
        if header is None or self._accepts(scope, header):
            return await self.application(scope, receive, send)
        self._log_refusal(scope, header)
        return await WebsocketDenier()(scope, receive, send)

    def _accepts(self, scope: dict[str, Any], header: str) -> bool:
        origin = parse_origin(header)
        if origin is None:
            return False
        return origin in self.allowed or origin == own_origin(scope, self.allowed_hosts)

    def _log_refusal(self, scope: dict[str, Any], header: str) -> None:
        # The path and query string (which holds the token) stay out of this line.
        own = own_origin(scope, self.allowed_hosts)
        logger.warning(
            "Refused a WebSocket handshake from Origin %r: it is not this server's own origin "
            "(%s) and not in WS_ALLOWED_ORIGINS. If pages served from there may open "
            "documents, add that origin (scheme://host[:port], exactly as the browser sends "
            "it) to WS_ALLOWED_ORIGINS; behind a TLS proxy, make sure it sends "
            "X-Forwarded-Proto and FORWARDED_ALLOW_IPS trusts it.",
            header[:200],
            own if own is not None else "Host header missing or not in ALLOWED_HOSTS",
        )
