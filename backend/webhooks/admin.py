from __future__ import annotations

from django.contrib import admin

from backend.webhooks.models import Attempt, Delivery, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin[Webhook]):
    list_display = ["url", "owner", "document_id", "active", "failing_since", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "owner__username"]
    raw_id_fields = ["owner"]
    # The secrets never show: an owner rotates one through the API to see a new one.
    exclude = ["secret", "previous_secret", "previous_secret_until"]
    readonly_fields = ["failing_since"]


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
