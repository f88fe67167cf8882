"""The ``Tandem-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``f"{t}.{body}"``, one ``v1`` per secret in use (two while a rotated-out secret lingers)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Tandem-Signature"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_in_use: list[str], timestamp: int, body: bytes) -> str:
    values = [f"v1={signature(secret, timestamp, body)}" for secret in secrets_in_use]
    return ",".join([f"t={timestamp}", *values])


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md): a fresh timestamp and one matching ``v1``."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in fields if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = signature(secret, int(stamps[0]), body)
    return any(hmac.compare_digest(expected, value) for key, value in fields if key == "v1")
