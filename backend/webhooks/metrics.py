"""Prometheus metrics of webhook delivery, labelled with this process's replica name."""

from __future__ import annotations

from django.conf import settings
from prometheus_client import Counter, Gauge

REPLICA: str = settings.REPLICA_NAME
# What one attempt came to: delivered (2xx), http_error (another status), timeout,
# network_error (no connection, reset...), refused (the address is not allowed).
OUTCOMES = ("delivered", "http_error", "timeout", "network_error", "refused")

deliveries_total = Counter(
    "tandem_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["replica", "outcome"]
)
queue_depth = Gauge(
    "tandem_webhook_queue_depth",
    "Deliveries waiting (due or backing off) for active webhooks, as this replica last saw.",
    ["replica"],
    multiprocess_mode="livemax",
).labels(REPLICA)
oldest_undelivered_seconds = Gauge(
    "tandem_webhook_oldest_undelivered_seconds",
    "Age of the oldest delivery still waiting, as this replica last saw.",
    ["replica"],
    multiprocess_mode="livemax",
).labels(REPLICA)


def attempted(outcome: str) -> None:
    deliveries_total.labels(REPLICA, outcome).inc()
