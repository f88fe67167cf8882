from __future__ import annotations

from django.apps import AppConfig


class CollabConfig(AppConfig):
    name = "backend.collab"
    label = "collab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # psycopg copies its adapters into each connection as it opens: the typed arrays'
        # dumpers are registered before Django opens any.
        import backend.collab.storage.pg_arrays  # noqa: F401
        from backend.collab.edge import access_events
        from backend.documents.signals import access_changed

        access_changed.connect(access_events.announce, dispatch_uid="tandem.access_events")
