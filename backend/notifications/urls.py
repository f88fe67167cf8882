"""Routes of the notifications API, mounted under ``/api/``."""

from __future__ import annotations

from django.urls import path

from backend.notifications import apis, stream

urlpatterns = [
    path("notifications/", apis.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/unread/", apis.UnreadCountApi.as_view(), name="notification-unread"),
    path("notifications/read/", apis.MarkReadApi.as_view(), name="notification-read"),
    path("notifications/stream/", stream.notification_stream, name="notification-stream"),
]
