from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from backend.webhooks.models import Attempt, Delivery, Webhook
from backend.webhooks.services import webhook_start_cursors


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin[Webhook]):
    list_display = ["url", "owner", "document_id", "active", "failing_since", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "owner__username"]
    raw_id_fields = ["owner"]
    # The secrets never show: an owner rotates one through the API to see a new one.
    exclude = ["secret", "previous_secret", "previous_secret_until"]
    readonly_fields = ["failing_since"]

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        """A new one gets a secret, shown here once, and reports changes from now on."""
        super().save_model(request, obj, form, change)
        if not change:
            webhook_start_cursors(obj)
            self.message_user(
                request,
                f"Signing secret (shown once, give it to the receiver): {obj.secret}",
                messages.WARNING,
            )


class AttemptInline(admin.TabularInline[Attempt, Delivery]):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = [
        "started_at",
        "duration_ms",
        "outcome",
        "status_code",
        "response_body",
        "error",
    ]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = ["id", "type", "webhook", "state", "attempts", "created_at", "delivered_at"]
    list_filter = ["state", "type"]
    raw_id_fields = ["webhook"]
    readonly_fields = ["created_at", "locked_until", "lease", "delivered_at"]
    inlines = [AttemptInline]
