"""REST endpoints of webhooks: validate, call a service, serialize. A webhook that is not
the caller's gets 404, as a document without access does."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.documents.apis import PAGE, caller
from backend.documents.error_responses import error_responses
from backend.documents.models import Role
from backend.documents.permissions import document_access
from backend.documents.serializers import paginated
from backend.webhooks import selectors, services
from backend.webhooks.models import Webhook
from backend.webhooks.serializers import (
    DeliveryOutput,
    SecretOutput,
    WebhookCreatedOutput,
    WebhookInput,
    WebhookOutput,
    WebhookUpdateInput,
)

NO_WEBHOOK = "No webhook with this id, or it is not yours."


def _webhook(request: Request, webhook_id: str) -> Webhook:
    hook = selectors.webhook_get(user=caller(request), webhook_id=webhook_id)
    if hook is None:
        raise NotFound(NO_WEBHOOK)
    return hook


class WebhookListApi(APIView):
    @extend_schema(responses={200: WebhookOutput(many=True), **error_responses(401)})
    def get(self, request: Request) -> Response:
        """The caller's webhooks, oldest first."""
        hooks = selectors.webhook_list(user=caller(request))
        return Response(WebhookOutput(hooks, many=True).data)

    @extend_schema(
        request=WebhookInput,
        responses={201: WebhookCreatedOutput, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        """Register a webhook on a document you own, or on all of them (no ``document``).
        The answer holds the signing secret, shown this once."""
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        document = None
        if data.validated_data.get("document") is not None:
            document, _ = document_access(
                user=request.user, document_id=data.validated_data["document"], need=Role.OWNER
            )
        hook = services.webhook_create(
            owner=caller(request),
            url=data.validated_data["url"],
            events=data.validated_data["events"],
            document=document,
        )
        return Response(WebhookCreatedOutput(hook).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(responses={200: WebhookOutput, **error_responses(401, 404)})
    def get(self, request: Request, webhook_id: str) -> Response:
        return Response(WebhookOutput(_webhook(request, webhook_id)).data)

    @extend_schema(
        request=WebhookUpdateInput,
        responses={200: WebhookOutput, **error_responses(400, 401, 404)},
    )
    def patch(self, request: Request, webhook_id: str) -> Response:
        """Change the URL or the events; ``active: false`` pauses it, ``true`` resumes it."""
        hook = _webhook(request, webhook_id)
        data = WebhookUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        hook = services.webhook_update(webhook=hook, **data.validated_data)
        return Response(WebhookOutput(hook).data)

    @extend_schema(responses={204: None, **error_responses(401, 404)})
    def delete(self, request: Request, webhook_id: str) -> Response:
        services.webhook_delete(webhook=_webhook(request, webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretApi(APIView):
    @extend_schema(request=None, responses={200: SecretOutput, **error_responses(401, 404)})
    def post(self, request: Request, webhook_id: str) -> Response:
        """A new signing secret, shown once."""
        hook = services.webhook_rotate_secret(webhook=_webhook(request, webhook_id))
        return Response(SecretOutput(hook).data)


class DeliveryListApi(APIView):
    @extend_schema(
        parameters=[PAGE],
        responses={
            200: paginated("DeliveryList", DeliveryOutput),
            **error_responses(401, 404),
        },
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        """The webhook's deliveries, newest first, each with every attempt."""
        rows = selectors.delivery_list(webhook=_webhook(request, webhook_id))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(DeliveryOutput(page, many=True).data)


class RedeliverApi(APIView):
    @extend_schema(request=None, responses={202: DeliveryOutput, **error_responses(401, 404)})
    def post(self, request: Request, webhook_id: str, delivery_id: str) -> Response:
        """Send this delivery again, with the same event id."""
        hook = _webhook(request, webhook_id)
        delivery = selectors.delivery_get(webhook=hook, delivery_id=delivery_id)
        if delivery is None:
            raise NotFound("No delivery with this id for this webhook.")
        delivery = services.delivery_redeliver(delivery_id=delivery.pk)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
