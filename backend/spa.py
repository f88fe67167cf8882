"""The browser editor: Vite's build in ``frontend/dist``, with client routes served index.html.

WhiteNoise serves the built files themselves (``WHITENOISE_ROOT``); this module answers the
paths the browser app routes itself (``/``, ``/login``, ``/d/<id>``...) with its index page,
so that a reload or a shared link opens the right page. Everything else keeps its own routes.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

NOT_BUILT = (
    "The browser editor is not built. Run `make run` (it builds frontend/ when its sources "
    "change), or `cd frontend && npm ci && npm run build`.\n"
)


@require_safe
def index(request: HttpRequest, **_route: str) -> HttpResponse:
    """The app's index.html; never cached, so a new build is picked up at once."""
    try:
        html = (settings.FRONTEND_DIST / "index.html").read_bytes()
    except FileNotFoundError:
        return HttpResponse(NOT_BUILT, status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    patch_cache_control(response, no_cache=True, max_age=0)
    return response


# The client routes of frontend/src/router.ts.
urlpatterns = [
    path("", index, name="spa-documents"),
    path("login", index, name="spa-login"),
    path("register", index, name="spa-register"),
    re_path(r"^d/(?P<document_id>[0-9a-fA-F-]{36})/?$", index, name="spa-editor"),
]
