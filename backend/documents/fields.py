"""Serializer fields the REST API shares."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class FlatListField(serializers.ListField):
    """A ``ListField`` whose errors are one list of messages, the shape the API's error
    schema gives every field (``documents.error_responses``); DRF's own reports a dict of
    messages per list index."""

    def to_internal_value(self, data: Any) -> list[Any]:
        try:
            return list(super().to_internal_value(data))
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            messages = {
                str(message)
                for per_index in exc.detail.values()
                for message in (per_index if isinstance(per_index, list) else [per_index])
            }
            raise serializers.ValidationError(sorted(messages)) from None
