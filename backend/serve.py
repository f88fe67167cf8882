"""Run Tandem under an ASGI server with the settings from the environment.

``ASGI_SERVER`` picks uvicorn (default, with uvloop and httptools), daphne or hypercorn.
``HOST`` and ``PORT`` choose the address; ``WS_PER_MESSAGE_DEFLATE`` turns WebSocket
compression on (uvicorn only; off by default: Yjs updates are small and compression costs
latency); ``WS_MAX_MESSAGE_BYTES`` bounds incoming messages (larger ones close with 1009).
"""

from __future__ import annotations

import copy
import os
import sys
from types import FrameType
from typing import Any

APPLICATION = "backend.asgi:application"


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def log_config() -> dict[str, object]:
    """uvicorn's logging, with every handler redacting tokens from query strings."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_tokens": {"()": "backend.log_redaction.RedactTokensFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_tokens"]
    return config


def uvicorn_config(app: Any, host: str, port: int, max_bytes: int, grace: int) -> Any:
    """uvicorn's configuration for Tandem serving ``app`` (an import string or an ASGI app).
    The bench's ASGI floors (bench/experiments/asgi_floor.py) serve under the same one."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        # StallAbortingProtocol frees clients that stop reading.
        ws="backend.collab.edge.uvicorn_protocol:StallAbortingProtocol",
        ws_per_message_deflate=_truthy(os.environ.get("WS_PER_MESSAGE_DEFLATE", "0")),
        ws_max_size=max_bytes,
        # A client that vanished without a close frame (half-open socket) is dropped once
        # a ping goes unanswered: after at most WS_PING_INTERVAL + WS_PING_TIMEOUT seconds.
        ws_ping_interval=float(os.environ.get("WS_PING_INTERVAL", "20")),
        ws_ping_timeout=float(os.environ.get("WS_PING_TIMEOUT", "20")),
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_config=log_config(),
        # uvicorn's own lines (one per socket opened and closed, the access log) follow
        # LOG_LEVEL like Tandem's: at WARNING, a storm of 10,000 sockets logs nothing.
        log_level=os.environ.get("LOG_LEVEL", "INFO").lower(),
        timeout_graceful_shutdown=grace,
    )


def _uvicorn(host: str, port: int, max_bytes: int, grace: int) -> None:
    import uvicorn

    from backend import draining

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, telling ``draining`` when SIGTERM (or SIGINT) arrives."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            draining.begin()
            super().handle_exit(sig, frame)

    server = DrainingServer(uvicorn_config(APPLICATION, host, port, max_bytes, grace))
    server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the application did not start


def _daphne(host: str, port: int, max_bytes: int, grace: int) -> None:
    # Daphne writes no access log unless asked, so no query string reaches a log.
    from daphne.cli import CommandLineInterface  # type: ignore[import-untyped]

    CommandLineInterface().run(
        [
            "-b",
            host,
            "-p",
            str(port),
            "--proxy-headers",
            "--websocket-max-message-size",
            str(max_bytes),
            "--application-close-timeout",
            str(grace),
            APPLICATION,
        ]
    )


def _hypercorn(host: str, port: int, max_bytes: int, grace: int) -> None:
    # Hypercorn writes no access log unless configured to.
    from hypercorn.config import Config
    from hypercorn.run import run

    config = Config()
    config.application_path = APPLICATION
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.websocket_max_message_size = max_bytes
    config.graceful_timeout = grace
    config.websocket_ping_interval = float(os.environ.get("WS_PING_INTERVAL", "20"))
    sys.exit(run(config))


SERVERS = {"uvicorn": _uvicorn, "daphne": _daphne, "hypercorn": _hypercorn}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    name = os.environ.get("ASGI_SERVER", "uvicorn")
    if name not in SERVERS:
        sys.exit(f"ASGI_SERVER={name!r} is not one of {', '.join(SERVERS)}.")
    SERVERS[name](
        os.environ.get("HOST", "127.0.0.1"),
        int(os.environ.get("PORT", "8000")),
        int(os.environ.get("WS_MAX_MESSAGE_BYTES", str(32 * 1024 * 1024))),
        int(os.environ.get("GRACEFUL_SHUTDOWN_SECONDS", "20")),
    )


if __name__ == "__main__":
    main()
