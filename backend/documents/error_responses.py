"""The error answers of the REST API as the OpenAPI schema declares them: one body shape for
every error ``exception_handler`` (or DRF before it) sends, and the statuses per operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction, OpenApiResponse
from rest_framework import serializers

MEANINGS: dict[int, str] = {
    400: "Invalid input: messages per field (`non_field_errors`: the whole body), or a `detail`.",
    401: "No valid credentials: a missing, invalid, expired or revoked token, or a wrong password.",
    403: "Your role on the document does not allow this; `detail` names the role it needs.",
    404: (
        "No such document, member, version or page. A document you have no access to gets "
        "the same answer as one that does not exist."
    ),
}


class ErrorOutput(serializers.Serializer[Any]):
    """An error: a `detail`, or messages keyed by the input field they are about."""

    detail = serializers.CharField(required=False, help_text="What went wrong.")
    code = serializers.CharField(required=False, help_text="A token was refused: why, as a code.")
    messages = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        required=False,
        help_text="Why an access token was refused, per token type tried.",
    )


# drf-spectacular registers extensions in an untyped ``__init_subclass__``.
class ErrorOutputSchema(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """Adds what a serializer cannot say: any other key is a field name and its messages."""

    target_class = ErrorOutput

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        schema: dict[str, Any] = super().map_serializer(auto_schema, direction)
        schema["additionalProperties"] = {"type": "array", "items": {"type": "string"}}
        return schema


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses=...)`` entries for the error statuses an operation returns."""
    return {
        status: OpenApiResponse(response=ErrorOutput, description=MEANINGS[status])
        for status in statuses
    }
