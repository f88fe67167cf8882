"""``GET /metrics``: Prometheus exposition, multi-process aware, token-protected in production."""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CLOSED_IN_PRODUCTION = (
    "Metrics are closed: this server runs in production mode (DATABASE_URL is set) and "
    "METRICS_TOKEN is empty. Set METRICS_TOKEN to a long random string and have Prometheus "
    "send 'Authorization: Bearer <token>' (its scrape config's 'authorization' block)."
)


def metrics(request: HttpRequest) -> HttpResponse:
    """All metrics, for ``Authorization: Bearer <METRICS_TOKEN>``.

    Without a token configured, the embedded setup serves them to anyone (a local trial);
    production answers 403 and says how to configure one.
    """
    if settings.METRICS_TOKEN:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(sent.encode(), settings.METRICS_TOKEN.encode()):
            return HttpResponse("A valid metrics token is required.\n", status=401)
    elif not settings.EMBEDDED:
        return JsonResponse({"detail": CLOSED_IN_PRODUCTION}, status=403)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
