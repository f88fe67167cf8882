"""REST endpoints of the inbox: list, unread count, mark read."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.documents.apis import PAGE, caller
from backend.documents.error_responses import error_responses
from backend.documents.serializers import paginated
from backend.notifications import selectors, services
from backend.notifications.serializers import (
    MarkReadInput,
    MarkReadOutput,
    NotificationOutput,
    UnreadOutput,
)

UNREAD = OpenApiParameter("unread", bool, description="1: only the unread ones.")


class NotificationListApi(APIView):
    @extend_schema(
        parameters=[PAGE, UNREAD],
        responses={
            200: paginated("NotificationList", NotificationOutput),
            **error_responses(401, 404),
        },
    )
    def get(self, request: Request) -> Response:
        """The caller's notifications, newest first."""
        unread = request.query_params.get("unread") in {"1", "true"}
        rows = selectors.notification_list(user_id=caller(request).pk, unread=unread)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(NotificationOutput(page, many=True).data)


class UnreadCountApi(APIView):
    @extend_schema(responses={200: UnreadOutput, **error_responses(401)})
    def get(self, request: Request) -> Response:
        return Response({"unread": selectors.unread_count(user_id=caller(request).pk)})


class MarkReadApi(APIView):
    @extend_schema(
        request=MarkReadInput, responses={200: MarkReadOutput, **error_responses(400, 401)}
    )
    def post(self, request: Request) -> Response:
        """Mark ``ids`` (the notifications' ``id``) read, or ``all: true``."""
        data = MarkReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = caller(request).pk
        ids = None if data.validated_data["all"] else data.validated_data["ids"]
        marked = services.notifications_mark_read(user_id=user_id, ids=ids)
        return Response({"marked": marked, "unread": selectors.unread_count(user_id=user_id)})
