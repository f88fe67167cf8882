from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "backend.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.collab.signals import mentions_committed
        from backend.documents.signals import document_changed
        from backend.notifications import producers

        document_changed.connect(producers.on_document_changed, dispatch_uid="tandem.notify")
        mentions_committed.connect(
            producers.on_mentions_committed, dispatch_uid="tandem.notify.mentions"
        )
