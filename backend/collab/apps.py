from __future__ import annotations

from django.apps import AppConfig


class CollabConfig(AppConfig):
    name = "backend.collab"
    label = "collab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.collab.edge import access_events
        from backend.documents.signals import access_changed

        access_changed.connect(access_events.announce, dispatch_uid="tandem.access_events")
