from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "backend.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.handlers.asgi import ASGIHandler
        from django.core.signals import request_started

        from backend.documents.signals import document_changed
        from backend.webhooks import producers, worker

        document_changed.connect(producers.on_document_changed, dispatch_uid="tandem.webhooks")
        if settings.WEBHOOK_DELIVERY == "inline":
            # Only a real ASGI server's requests: the test client's run in no lasting loop.
            request_started.connect(
                worker.on_request_started, sender=ASGIHandler, dispatch_uid="tandem.webhooks"
            )
