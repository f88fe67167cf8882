"""WebSocket routes and the handshake middleware stack."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.conf import settings
from django.urls import re_path

from backend.collab.edge.consumers import DocumentConsumer
from backend.collab.edge.middleware import JWTAuthMiddleware
from backend.collab.edge.origins import OriginCheck
from backend.notifications.consumers import NotificationConsumer

websocket_urlpatterns = [
    re_path(r"^ws/documents/(?P<document_id>[^/?]+)/?$", DocumentConsumer.as_asgi()),
    re_path(r"^ws/notifications/?$", NotificationConsumer.as_asgi()),
]


def websocket_application() -> Any:
    """Origin check, then JWT authentication, then the routes."""
    return OriginCheck(
        JWTAuthMiddleware(URLRouter(websocket_urlpatterns)),
        allowed=settings.WS_ALLOWED_ORIGINS,
        allowed_hosts=settings.ALLOWED_HOSTS,
    )
