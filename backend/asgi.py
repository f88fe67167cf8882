"""ASGI entry point: HTTP goes to Django, WebSockets to the collab routes."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from backend.collab.edge.lifespan import lifespan_app  # noqa: E402
from backend.collab.edge.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_application(),
        "lifespan": lifespan_app,
    }
)
