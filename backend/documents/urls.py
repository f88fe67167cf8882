"""Routes of the documents and accounts API, mounted under ``/api/``."""

from __future__ import annotations

from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from backend.documents import apis

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/token/", TokenObtainPairView.as_view(), name="auth-token"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/me/", apis.MeApi.as_view(), name="auth-me"),
    path("auth/logout-all/", apis.LogoutEverywhereApi.as_view(), name="auth-logout-all"),
    path("documents/", apis.DocumentListApi.as_view(), name="document-list"),
    path("documents/<str:document_id>/", apis.DocumentDetailApi.as_view(), name="document-detail"),
    path(
        "documents/<str:document_id>/members/",
        apis.MemberListApi.as_view(),
        name="member-list",
    ),
    path(
        "documents/<str:document_id>/members/<str:username>/",
        apis.MemberDetailApi.as_view(),
        name="member-detail",
    ),
]
