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
    author = serializers.CharField(allow_null=True, source="author.username", default=None)
    created_at = serializers.DateTimeField()
    size = serializers.IntegerField()


class RestoreInput(serializers.Serializer[Any]):
    seq = serializers.IntegerField(min_value=0)


class PresenceOutput(serializers.Serializer[Any]):
    username = serializers.CharField()
    since = serializers.DateTimeField()
    connections = serializers.IntegerField()
