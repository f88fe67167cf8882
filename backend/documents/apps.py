from __future__ import annotations

from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "backend.documents"
    label = "documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from backend.documents import signals, token_schema  # noqa: F401  (registers its extensions)

        user_model = get_user_model()
        post_save.connect(signals.user_saved, sender=user_model, dispatch_uid="tandem.user_saved")
        post_delete.connect(
            signals.user_deleted, sender=user_model, dispatch_uid="tandem.user_deleted"
        )
