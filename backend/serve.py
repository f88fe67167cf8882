"""Run Tandem under uvicorn with the settings from the environment.

``HOST`` and ``PORT`` choose the address; ``WS_PER_MESSAGE_DEFLATE`` turns WebSocket
compression on (off by default: Yjs updates are small and compression costs latency).
"""

from __future__ import annotations

import copy
import os

import uvicorn
from uvicorn.config import LOGGING_CONFIG


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def log_config() -> dict[str, object]:
    """uvicorn's logging, with every handler redacting tokens from query strings."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_tokens": {"()": "backend.log_redaction.RedactTokensFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_tokens"]
    return config


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    uvicorn.run(
        "backend.asgi:application",
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        ws_per_message_deflate=_truthy(os.environ.get("WS_PER_MESSAGE_DEFLATE", "0")),
        ws_max_size=int(os.environ.get("WS_MAX_MESSAGE_BYTES", str(1024 * 1024))),
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_config=log_config(),
        timeout_graceful_shutdown=int(os.environ.get("GRACEFUL_SHUTDOWN_SECONDS", "20")),
    )


if __name__ == "__main__":
    main()
