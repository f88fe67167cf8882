"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from backend.documents.fields import FlatListField
from backend.webhooks.models import DeliveryState, EventType

EVENTS_HELP = "Events to receive: " + ", ".join(EventType.values) + "."


class WebhookInput(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000)
    events = FlatListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        min_length=1,
        max_length=len(EventType.values),
        help_text=EVENTS_HELP,
    )
    document = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A document you own; omit it for every document you own.",
    )


class WebhookUpdateInput(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000, required=False)
    events = FlatListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        min_length=1,
        max_length=len(EventType.values),
        required=False,
        help_text=EVENTS_HELP,
    )
    active = serializers.BooleanField(required=False, help_text="false: stop delivering.")


class WebhookOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.URLField()
    # Plain strings in answers: one enum of event types in the schema (EventsEnum, inputs).
    events = FlatListField(child=serializers.CharField(), help_text=EVENTS_HELP)
    document = serializers.UUIDField(source="document_id", allow_null=True)
    active = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why it is inactive, if it is.")
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="Since when every delivery has failed."
    )
    created_at = serializers.DateTimeField()


class WebhookCreatedOutput(WebhookOutput):
    secret = serializers.CharField(
        help_text="The signing secret. Shown now and never again: store it."
    )


class SecretOutput(serializers.Serializer[Any]):
    secret = serializers.CharField(
        help_text="The new signing secret, shown once. The previous one also signs "
        "deliveries (a second v1 value) for WEBHOOK_SECRET_GRACE_SECONDS."
    )


class AttemptOutput(serializers.Serializer[Any]):
    started_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    outcome = serializers.CharField(
        help_text="delivered, http_error, timeout, network_error or refused."
    )
    status_code = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(help_text="The first 1 KiB of the answer.")
    error = serializers.CharField()


class DeliveryOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField(help_text="The event id the receiver sees, on every attempt.")
    type = serializers.CharField(help_text="The event type: one of the webhook's events.")
    state = serializers.ChoiceField(choices=DeliveryState.choices)
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptOutput(source="attempt_log.all", many=True)
