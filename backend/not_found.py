"""The answer to a path no route matches: JSON under ``/api/`` (what API clients parse),
Django's page elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        detail = f"No API route matches {request.path}; the routes are listed at /api/docs/."
        return JsonResponse({"detail": detail}, status=404)
    return defaults.page_not_found(request, exception)
