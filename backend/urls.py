"""Top-level URL routes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend import health
from backend.metrics_view import metrics

handler404 = "backend.not_found.not_found"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("backend.documents.urls")),
    path("api/", include("backend.collab.api.urls")),
    path("api/", include("backend.notifications.urls")),
    path("api/", include("backend.webhooks.urls")),
    path("", include("backend.spa")),
]
