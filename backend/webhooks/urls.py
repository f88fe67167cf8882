"""Routes of the webhooks API, mounted under ``/api/``."""

from __future__ import annotations

from django.urls import path

from backend.webhooks import apis

urlpatterns = [
    path("webhooks/", apis.WebhookListApi.as_view(), name="webhook-list"),
    path("webhooks/<str:webhook_id>/", apis.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<str:webhook_id>/rotate-secret/",
        apis.WebhookSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/",
        apis.DeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/redeliver/",
        apis.RedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]
