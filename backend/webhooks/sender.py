"""One POST of one delivery: to the checked address only, no redirects, bounded in time and
in how much of the answer is read."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from backend.webhooks.addresses import AddressRefused, Target, resolve_target
from backend.webhooks.outbox import Claimed, Outcome
from backend.webhooks.signing import HEADER, signature_header

USER_AGENT = "Tandem-Webhooks/1"
KEPT_BODY = 1024  # bytes of a response kept in the delivery log


def body_of(claimed: Claimed) -> bytes:
    """The JSON body: identical on every attempt of a delivery."""
    event: dict[str, Any] = {
        "id": str(claimed.id),
        "type": claimed.type,
        "created_at": claimed.created_at.isoformat().replace("+00:00", "Z"),
        "webhook": str(claimed.webhook_id),
        **claimed.payload,
    }
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def new_client() -> httpx.AsyncClient:
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        trust_env=False,  # no proxy from the environment: the checked address is the peer
        headers={"User-Agent": USER_AGENT},
    )


async def send(client: httpx.AsyncClient, claimed: Claimed) -> Outcome:
    """POST the delivery once; never raises (but for cancellation)."""
    started_at = timezone.now()
    began = time.monotonic()

    def outcome(kind: str, **fields: Any) -> Outcome:
        took = (time.monotonic() - began) * 1000
        return Outcome(kind, started_at=started_at, duration_ms=took, **fields)

    try:
        target = await asyncio.to_thread(resolve_target, claimed.url)
    except AddressRefused as exc:
        return outcome("refused", error=str(exc))
    body = body_of(claimed)
    headers = {
        "Content-Type": "application/json",
        "Host": _host_header(target),
        "Tandem-Event": claimed.type,
        "Tandem-Delivery": str(claimed.id),
        HEADER: signature_header(claimed.secrets, int(time.time()), body),
    }
    try:
        async with asyncio.timeout(settings.WEBHOOK_TIMEOUT_SECONDS):
            status, text, truncated = await _post(client, target, headers, body)
    except TimeoutError:
        return outcome("timeout", error=f"no answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s")
    except httpx.HTTPError as exc:
        return outcome("network_error", error=f"{type(exc).__name__}: {exc}")
    kind = "delivered" if 200 <= status < 300 else "http_error"
    error = f"answer cut at {settings.WEBHOOK_MAX_RESPONSE_BYTES} bytes" if truncated else ""
    return outcome(kind, status_code=status, response_body=text, error=error)


async def _post(
    client: httpx.AsyncClient, target: Target, headers: dict[str, str], body: bytes
) -> tuple[int, str, bool]:
    """Connect to the checked address (TLS still verified against the host name)."""
    url = httpx.URL(target.url).copy_with(host=str(target.address))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = client.build_request(
        "POST", url, headers=headers, content=body, extensions=extensions
    )
    response = await client.send(request, stream=True)
    try:
        kept, read, truncated = bytearray(), 0, False
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if len(kept) < KEPT_BODY:
                kept += chunk[: KEPT_BODY - len(kept)]
            if read > settings.WEBHOOK_MAX_RESPONSE_BYTES:
                truncated = True
                break
    finally:
        await response.aclose()
    return response.status_code, kept.decode("utf-8", "replace"), truncated


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"
