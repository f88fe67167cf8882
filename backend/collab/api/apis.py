"""REST endpoints for a document's body and history, written through the durable update path."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from pycrdt import Doc
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.collab.api import selectors, services
from backend.collab.api.serializers import (
    ContentInput,
    ContentOutput,
    HistoryRowOutput,
    PresenceOutput,
    RestoreInput,
)
from backend.collab.core import content
from backend.documents.apis import PAGE, caller
from backend.documents.error_responses import error_responses
from backend.documents.errors import DocumentNotFound
from backend.documents.models import Document, Role
from backend.documents.permissions import document_access
from backend.documents.serializers import paginated


def _content_at(document: Document, seq: int) -> dict[str, Any]:
    """The body as of update ``seq``."""
    doc, _ = selectors.document_state(document=document, upto=seq)
    return _content(doc, seq)


def _content(doc: Doc[Any], seq: int) -> dict[str, Any]:
    return dict(
        ContentOutput({"text": content.as_text(doc), "html": content.as_html(doc), "seq": seq}).data
    )


class ContentApi(APIView):
    @extend_schema(responses={200: ContentOutput, **error_responses(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id)
        doc, seq = selectors.document_state(document=document)
        return Response(_content(doc, seq))

    @extend_schema(
        request=ContentInput,
        responses={200: ContentOutput, **error_responses(400, 401, 403, 404)},
    )
    def put(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id, need=Role.EDITOR)
        data = ContentInput(data=request.data)
        data.is_valid(raise_exception=True)
        seq = services.document_set_text(
            document=document, text=data.validated_data["text"], author=caller(request)
        )
        return Response(_content_at(document, seq))


class HistoryApi(APIView):
    @extend_schema(
        parameters=[PAGE],
        responses={200: paginated("HistoryList", HistoryRowOutput), **error_responses(401, 404)},
    )
    def get(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id)
        rows = selectors.document_history(document=document)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(HistoryRowOutput(page, many=True).data)


class VersionApi(APIView):
    @extend_schema(
        description=(
            "The body as of version `seq`. With UPDATE_LOG_RETENTION_DAYS set, a version "
            "before the retention's cut is kept only where the history lists it (a "
            "`snapshot` row); any other such version answers 404 with a `detail` saying the "
            "retention removed it."
        ),
        # The route takes digits only: anything else is no operation of this API.
        parameters=[OpenApiParameter("seq", {"type": "integer", "minimum": 0}, "path")],
        responses={200: ContentOutput, **error_responses(401, 404)},
    )
    def get(self, request: Request, document_id: str, seq: int) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id)
        if seq > document.head_seq:
            raise DocumentNotFound(f"No version {seq}: the latest is {document.head_seq}.")
        return Response(_content_at(document, seq))


class RestoreApi(APIView):
    @extend_schema(
        request=RestoreInput,
        responses={200: ContentOutput, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id, need=Role.EDITOR)
        data = RestoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        seq = services.document_restore(
            document=document, seq=data.validated_data["seq"], author=caller(request)
        )
        return Response(_content_at(document, seq))


class PresenceApi(APIView):
    @extend_schema(responses={200: PresenceOutput(many=True), **error_responses(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        """Users connected to the document now, on any replica, earliest arrival first."""
        document, _ = document_access(user=request.user, document_id=document_id)
        present = selectors.document_presence(document=document)
        return Response(PresenceOutput(present, many=True).data)
