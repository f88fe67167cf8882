"""The shape of a notification, in the REST API and on the live channels alike."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend.documents.fields import FlatListField
from backend.notifications.models import Notification
from backend.notifications.types import NotificationType

MAX_IDS = 1000


class ActorOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()


class NotificationDocumentOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    title = serializers.CharField(help_text="The title when it happened.")


class NotificationOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField(
        source="seq",
        help_text="The user's notification number: 1, 2, 3... in the order they committed. "
        "Replays resume after it (SSE Last-Event-ID, ?after=).",
    )
    type = serializers.ChoiceField(choices=NotificationType.choices)
    created_at = serializers.DateTimeField()
    read = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    document = serializers.SerializerMethodField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # Declared here: a class attribute named ``data`` would hide ``Serializer.data``.
        fields["data"] = serializers.DictField(
            help_text="By type: document.shared and member.role_changed: role; "
            "document.renamed: previous_title; mention: text; mention.undelivered: username."
        )
        return fields

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None

    @extend_schema_field(ActorOutput(allow_null=True))
    def get_actor(self, notification: Notification) -> dict[str, Any] | None:
        if notification.actor_id is None or notification.actor is None:
            return None
        return {"id": notification.actor_id, "username": notification.actor.get_username()}

    @extend_schema_field(NotificationDocumentOutput(allow_null=True))
    def get_document(self, notification: Notification) -> dict[str, Any] | None:
        if notification.document_id is None:
            return None
        return {"id": str(notification.document_id), "title": notification.document_title}


class MarkReadInput(serializers.Serializer[Any]):
    ids = FlatListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_IDS
    )
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError("Give the ids to mark read, or all: true.")
        return attrs


class MarkReadOutput(serializers.Serializer[Any]):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class UnreadOutput(serializers.Serializer[Any]):
    unread = serializers.IntegerField()
