from __future__ import annotations

from django.apps import AppConfig


class CollabConfig(AppConfig):
    name = "backend.collab"
    label = "collab"
    default_auto_field = "django.db.models.BigAutoField"
