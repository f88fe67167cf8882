"""Routes of the content and history API, mounted under ``/api/``."""

from __future__ import annotations

from django.urls import path

from backend.collab.api import apis

urlpatterns = [
    path("documents/<str:document_id>/content/", apis.ContentApi.as_view(), name="content"),
    path("documents/<str:document_id>/history/", apis.HistoryApi.as_view(), name="history"),
    path(
        "documents/<str:document_id>/versions/<int:seq>/",
        apis.VersionApi.as_view(),
        name="version",
    ),
    path("documents/<str:document_id>/restore/", apis.RestoreApi.as_view(), name="restore"),
    path("documents/<str:document_id>/presence/", apis.PresenceApi.as_view(), name="presence"),
]
