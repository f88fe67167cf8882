"""Every role against every documents endpoint: allowed, refused (403), or hidden (404)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from backend.documents.models import Document, Membership, Role
from tests.support.factories import make_document, make_user, share

pytestmark = pytest.mark.django_db

ROLES = ["owner", "editor", "viewer", "stranger", "anonymous"]


@dataclass
class Scene:
    document: Document
    clients: dict[str, APIClient]


@pytest.fixture
def scene(login: Callable[..., APIClient]) -> Scene:
    owner, editor, viewer = (
        make_user(username="owner"),
        make_user(username="ed"),
        make_user(username="vi"),
    )
    make_user(username="carol")
    document = make_document(owner=owner)
    share(document, editor, Role.EDITOR)
    share(document, viewer, Role.VIEWER)
    return Scene(
        document=document,
        clients={
            "owner": login(owner),
            "editor": login(editor),
            "viewer": login(viewer),
            "stranger": login(),
            "anonymous": APIClient(),
        },
    )


# (method, path under the document, body, expected status per role)
CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("get", "", None, {"owner": 200, "editor": 200, "viewer": 200}),
    ("patch", "", {"title": "T"}, {"owner": 200, "editor": 200, "viewer": 403}),
    ("delete", "", None, {"owner": 204, "editor": 403, "viewer": 403}),
    ("get", "members/", None, {"owner": 200, "editor": 200, "viewer": 200}),
    (
        "post",
        "members/",
        {"username": "carol", "role": "viewer"},
        {"owner": 201, "editor": 403, "viewer": 403},
    ),
    ("patch", "members/vi/", {"role": "editor"}, {"owner": 200, "editor": 403, "viewer": 403}),
    ("delete", "members/ed/", None, {"owner": 204, "editor": 204, "viewer": 403}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES)
def test_role_matrix(
    scene: Scene,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: dict[str, int],
) -> None:
    want = expected.get(role, 401 if role == "anonymous" else 404)
    client = scene.clients[role]
    url = f"/api/documents/{scene.document.id}/{path}"
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == want, response.content
    if want in (403, 404):
        assert Document.objects.filter(pk=scene.document.pk, title="Notes").exists()
        assert Membership.objects.filter(document=scene.document).count() == 2
