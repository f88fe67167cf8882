"""Request and response shapes of the content and history API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ContentOutput(serializers.Serializer[Any]):
    text = serializers.CharField()
    html = serializers.CharField()
    seq = serializers.IntegerField()


class ContentInput(serializers.Serializer[Any]):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1_000_000)


class HistoryRowOutput(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    author = serializers.CharField(allow_null=True, source="author_name")
    created_at = serializers.DateTimeField(help_text="When the version's last update was stored.")
    size = serializers.IntegerField()
    kind = serializers.ChoiceField(
        ["update", "snapshot"],
        help_text=(
            "update: one stored update. snapshot: the whole state as of this version, kept "
            "where the update log's retention (UPDATE_LOG_RETENTION_DAYS) removed the updates."
        ),
    )


class RestoreInput(serializers.Serializer[Any]):
    seq = serializers.IntegerField(min_value=0)


class PresenceOutput(serializers.Serializer[Any]):
    username = serializers.CharField()
    since = serializers.DateTimeField()
    connections = serializers.IntegerField()
