"""REST endpoints for accounts, documents and sharing: validate, call a service, serialize."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.documents import selectors, services
from backend.documents.error_responses import error_responses
from backend.documents.errors import RoleRequired
from backend.documents.models import Document, Role
from backend.documents.permissions import document_access
from backend.documents.serializers import (
    DocumentInput,
    DocumentOutput,
    MemberInput,
    MemberOutput,
    MemberRoleInput,
    RegisterInput,
    UserOutput,
    paginated,
)
from backend.documents.tokens import user_logout_everywhere

PAGE = OpenApiParameter("page", int, description="Page number, from 1; past the last: 404.")


def caller(request: Request) -> User:
    """The authenticated user of a request that passed ``IsAuthenticated``."""
    if not isinstance(request.user, User):
        raise NotAuthenticated
    return request.user


def _with_role(document: Document, role: Role) -> Document:
    document.role = role.value  # type: ignore[attr-defined]
    return document


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=RegisterInput, responses={201: UserOutput, **error_responses(400)})
    def post(self, request: Request) -> Response:
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserOutput(user).data, status=status.HTTP_201_CREATED)


class LogoutEverywhereApi(APIView):
    @extend_schema(request=None, responses={204: None, **error_responses(401)})
    def post(self, request: Request) -> Response:
        """Revoke every token of the caller; open WebSockets close within seconds (4401)."""
        user_logout_everywhere(user=caller(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: UserOutput, **error_responses(401)})
    def get(self, request: Request) -> Response:
        return Response(UserOutput(request.user).data)


class DocumentListApi(APIView):
    @extend_schema(
        parameters=[PAGE],
        responses={200: paginated("DocumentList", DocumentOutput), **error_responses(401, 404)},
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.document_list(user=caller(request)), request, view=self
        )
        return paginator.get_paginated_response(DocumentOutput(page, many=True).data)

    @extend_schema(
        request=DocumentInput,
        responses={201: DocumentOutput, **error_responses(400, 401)},
    )
    def post(self, request: Request) -> Response:
        data = DocumentInput(data=request.data)
        data.is_valid(raise_exception=True)
        document = services.document_create(owner=caller(request), **data.validated_data)
        return Response(
            DocumentOutput(_with_role(document, Role.OWNER)).data, status=status.HTTP_201_CREATED
        )


class DocumentDetailApi(APIView):
    @extend_schema(responses={200: DocumentOutput, **error_responses(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        document, role = document_access(user=request.user, document_id=document_id)
        return Response(DocumentOutput(_with_role(document, role)).data)

    @extend_schema(
        request=DocumentInput,
        responses={200: DocumentOutput, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, document_id: str) -> Response:
        document, role = document_access(
            user=request.user, document_id=document_id, need=Role.EDITOR
        )
        data = DocumentInput(data=request.data)
        data.is_valid(raise_exception=True)
        document = services.document_rename(
            document=document, actor=caller(request), **data.validated_data
        )
        return Response(DocumentOutput(_with_role(document, role)).data)

    @extend_schema(responses={204: None, **error_responses(401, 403, 404)})
    def delete(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id, need=Role.OWNER)
        services.document_delete(document=document, actor=caller(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListApi(APIView):
    @extend_schema(responses={200: MemberOutput(many=True), **error_responses(401, 404)})
    def get(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id)
        return Response(MemberOutput(selectors.member_list(document=document), many=True).data)

    @extend_schema(
        request=MemberInput,
        responses={201: MemberOutput, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, document_id: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id, need=Role.OWNER)
        data = MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(
            document=document,
            username=data.validated_data["username"],
            role=Role(data.validated_data["role"]),
            actor=caller(request),
        )
        return Response(_member_output(membership), status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    @extend_schema(
        request=MemberRoleInput,
        responses={200: MemberOutput, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, document_id: str, username: str) -> Response:
        document, _ = document_access(user=request.user, document_id=document_id, need=Role.OWNER)
        data = MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_set_role(
            document=document,
            username=username,
            role=Role(data.validated_data["role"]),
            actor=caller(request),
        )
        return Response(_member_output(membership))

    @extend_schema(responses={204: None, **error_responses(400, 401, 403, 404)})
    def delete(self, request: Request, document_id: str, username: str) -> Response:
        """The owner removes a member; a member may remove themselves (leave)."""
        document, role = document_access(user=request.user, document_id=document_id)
        if role is not Role.OWNER and username != request.user.get_username():
            raise RoleRequired("Only the owner can remove other members.")
        services.member_remove(document=document, username=username, actor=caller(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _member_output(membership: Any) -> dict[str, Any]:
    return dict(
        MemberOutput(
            {
                "username": membership.user.get_username(),
                "role": membership.role,
                "since": membership.created_at,
            }
        ).data
    )
