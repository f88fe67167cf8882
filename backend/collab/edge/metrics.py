"""Prometheus metrics of the real-time path, each labelled with this process's replica name.

Listed with the alerts worth setting in docs/operations.md.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

from backend.collab.core.ports import RoomMetrics

REPLICA: str = settings.REPLICA_NAME
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

connections_open = Gauge(
    "tandem_connections_open",
    "Open document WebSockets.",
    ["replica"],
    multiprocess_mode="livesum",
).labels(REPLICA)
rooms_open = Gauge(
    "tandem_rooms_open", "Documents loaded in memory.", ["replica"], multiprocess_mode="livesum"
).labels(REPLICA)
updates_accepted = Counter(
    "tandem_updates_accepted", "Client updates committed to the log.", ["replica"]
).labels(REPLICA)
updates_rejected = Counter(
    "tandem_updates_rejected", "Client messages refused, by reason.", ["replica", "reason"]
)
commit_seconds = Histogram(
    "tandem_commit_seconds",
    "Time to commit one group of updates.",
    ["replica"],
    buckets=_LATENCY_BUCKETS,
).labels(REPLICA)
fanout_delivery_seconds = Histogram(
    "tandem_fanout_delivery_seconds",
    "From commit on one replica to delivery on another (channel layer path).",
    ["replica"],
    buckets=_LATENCY_BUCKETS,
).labels(REPLICA)
gaps_repaired = Counter(
    "tandem_gaps_repaired", "Updates fetched from the database to fill a gap.", ["replica"]
).labels(REPLICA)
awareness_echoes = Counter(
    "tandem_awareness_echoes",
    "Awareness frames recognised as a client's echo of a relayed frame, dropped unparsed.",
    ["replica"],
).labels(REPLICA)
channel_layer_errors = Counter(
    "tandem_channel_layer_errors", "Failed channel layer sends and receives.", ["replica"]
).labels(REPLICA)
bytes_received = Counter(
    "tandem_bytes_received", "WebSocket payload bytes received.", ["replica"]
).labels(REPLICA)
bytes_sent = Counter("tandem_bytes_sent", "WebSocket payload bytes sent.", ["replica"]).labels(
    REPLICA
)
event_loop_lag_seconds = Histogram(
    "tandem_event_loop_lag_seconds",
    "How late the event loop ran a timer: how long something blocked it.",
    ["replica"],
    buckets=_LATENCY_BUCKETS,
).labels(REPLICA)


def rejected(reason: str) -> None:
    updates_rejected.labels(REPLICA, reason).inc()


class PrometheusRoomMetrics(RoomMetrics):
    """The core's room metrics, exported with the rest of this module's."""

    def rejected(self, reason: str) -> None:
        rejected(reason)

    def commit_timer(self) -> AbstractContextManager[object]:
        return commit_seconds.time()

    def accepted(self, count: int) -> None:
        updates_accepted.inc(count)

    def gaps_repaired(self, count: int) -> None:
        gaps_repaired.inc(count)

    def awareness_echo(self) -> None:
        awareness_echoes.inc()

    def room_opened(self) -> None:
        rooms_open.inc()

    def room_closed(self) -> None:
        rooms_open.dec()
