"""``python manage.py deliver_webhooks``: deliver the outbox in a process of its own."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client import start_http_server

from backend.webhooks.worker import start_webhook_delivery, stop_webhook_delivery

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Deliver webhooks until SIGTERM. Run any number of these; set WEBHOOK_DELIVERY=off "
        "on the web processes then."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=0,
            help="Serve Prometheus metrics (and a liveness answer) on this port.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["metrics_port"]:
            start_http_server(options["metrics_port"])
        asyncio.run(self._run())

    async def _run(self) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        start_webhook_delivery()
        logger.info("delivering webhooks (replica %s)", settings.REPLICA_NAME)
        await stopping.wait()
        # A send cut short here is retried once its lease expires (WEBHOOK_LEASE_SECONDS).
        await stop_webhook_delivery()
        logger.info("webhook delivery stopped")
