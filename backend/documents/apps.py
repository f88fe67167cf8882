from __future__ import annotations

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "backend.documents"
    label = "documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.documents import token_schema  # noqa: F401  (registers its extensions)
