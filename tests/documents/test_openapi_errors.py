"""The OpenAPI schema declares the error statuses of every operation, with one error body that
the real error answers match."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from backend.documents.models import Role
from tests.support.factories import make_document, make_user, share

pytestmark = pytest.mark.django_db

ERROR_BODY = {"$ref": "#/components/schemas/ErrorOutput"}
DOCUMENT = uuid.UUID("5b0c7d1e-2f43-4a8e-9c61-0d2b7e9f4a13")
MISSING = uuid.UUID("00000000-0000-4000-8000-000000000000")


@pytest.fixture
def schema(api: APIClient) -> dict[str, Any]:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


def _statuses(schema: dict[str, Any], path: str, method: str) -> list[str]:
    return sorted(schema["paths"][path][method]["responses"])


def test_a_document_operation_declares_401_and_404(schema: dict[str, Any]) -> None:
    path = "/api/documents/{document_id}/"
    assert _statuses(schema, path, "get") == ["200", "401", "404"]
    assert _statuses(schema, path, "patch") == ["200", "400", "401", "403", "404"]
    assert _statuses(schema, path, "delete") == ["204", "401", "403", "404"]


def test_signing_up_and_in_need_no_token(schema: dict[str, Any]) -> None:
    assert _statuses(schema, "/api/auth/register/", "post") == ["201", "400"]
    assert _statuses(schema, "/api/auth/token/", "post") == ["200", "400", "401"]


def test_every_error_response_has_the_one_error_body(schema: dict[str, Any]) -> None:
    errors = [
        (path, method, status, response)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]
    assert len(errors) > 40
    for path, method, status, response in errors:
        body = response["content"]["application/json"]["schema"]
        assert body == ERROR_BODY, (path, method, status)


def test_the_error_body_rejects_what_is_no_error_body(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["ErrorOutput"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "not a list of messages"}, error)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"detail": ["not one message"]}, error)


@pytest.fixture
def callers(login: Callable[..., APIClient]) -> dict[str, APIClient]:
    owner, viewer = make_user(username="olivia"), make_user(username="vic")
    share(make_document(owner=owner, id=DOCUMENT), viewer, Role.VIEWER)
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    return {
        "owner": login(owner),
        "viewer": login(viewer),
        "bad token": bad_token,
        "anonymous": APIClient(),
    }


# (caller, method, path, body, status)
ERRORS: list[tuple[str, str, str, Any, int]] = [
    ("anonymous", "post", "/api/auth/register/", {"username": "x"}, 400),
    ("anonymous", "post", "/api/auth/token/", {"username": "x"}, 400),
    ("anonymous", "post", "/api/auth/token/", {"username": "x", "password": "y"}, 401),
    ("anonymous", "post", "/api/auth/token/refresh/", {"refresh": "x"}, 401),
    ("anonymous", "get", "/api/auth/me/", None, 401),
    ("bad token", "get", "/api/documents/", None, 401),
    ("owner", "get", "/api/documents/?page=9", None, 404),
    ("owner", "post", "/api/documents/", [], 400),
    ("owner", "get", f"/api/documents/{MISSING}/", None, 404),
    ("viewer", "patch", f"/api/documents/{DOCUMENT}/", {}, 403),
    ("owner", "delete", f"/api/documents/{DOCUMENT}/members/olivia/", None, 400),
    ("owner", "patch", f"/api/documents/{DOCUMENT}/members/nobody/", {"role": "viewer"}, 404),
    ("owner", "post", f"/api/documents/{DOCUMENT}/restore/", {"seq": 7}, 400),
    ("owner", "get", f"/api/documents/{DOCUMENT}/versions/7/", None, 404),
]


@pytest.mark.parametrize(("caller", "method", "path", "body", "status"), ERRORS)
def test_real_errors_are_declared_with_the_body_they_have(
    schema: dict[str, Any],
    callers: dict[str, APIClient],
    caller: str,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    response = getattr(callers[caller], method)(path, body, format="json")
    assert response.status_code == status, response.content
    assert str(status) in _statuses(schema, _declared(path), method)
    jsonschema.validate(response.json(), schema["components"]["schemas"]["ErrorOutput"])


def _declared(path: str) -> str:
    """The schema's name for a URL's path: /api/documents/<id>/ -> /api/documents/{document_id}/."""
    route = resolve(urlsplit(path).path).route
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
