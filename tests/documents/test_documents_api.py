from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from backend.documents.models import Document, Role
from tests.support.factories import make_document, make_user, share

pytestmark = pytest.mark.django_db


def test_create_then_read_a_document(owner_client: APIClient) -> None:
    created = owner_client.post("/api/documents/", {"title": "Plan"})
    assert created.status_code == 201
    body = created.json()
    assert body["title"] == "Plan"
    assert body["owner"] == "olivia"
    assert body["role"] == "owner"
    uuid.UUID(body["id"])
    assert set(body) == {"id", "title", "owner", "role", "created_at", "updated_at"}

    fetched = owner_client.get(f"/api/documents/{body['id']}/")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_list_shows_own_and_shared_documents_with_role(
    login: Callable[..., APIClient],
) -> None:
    bob = make_user(username="bob")
    client = login(bob)
    mine = make_document(owner=bob, title="Mine")
    edited = make_document(title="Shared to edit")
    viewed = make_document(title="Shared to view")
    make_document(title="Not mine")
    share(edited, bob, Role.EDITOR)
    share(viewed, bob, Role.VIEWER)

    response = client.get("/api/documents/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    roles = {row["title"]: row["role"] for row in body["results"]}
    assert roles == {"Mine": "owner", "Shared to edit": "editor", "Shared to view": "viewer"}
    assert {row["id"] for row in body["results"]} == {str(mine.id), str(edited.id), str(viewed.id)}


def test_list_is_paginated(owner_client: APIClient) -> None:
    for i in range(55):
        make_document(owner=owner_client.user, title=f"Doc {i}")  # type: ignore[attr-defined]
    first = owner_client.get("/api/documents/").json()
    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert first["previous"] is None
    second = owner_client.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert second["next"] is None
    ids = {row["id"] for row in first["results"]} | {row["id"] for row in second["results"]}
    assert len(ids) == 55


def test_list_newest_change_first(owner_client: APIClient) -> None:
    user = owner_client.user  # type: ignore[attr-defined]
    old = make_document(owner=user, title="Old")
    make_document(owner=user, title="New")
    owner_client.patch(f"/api/documents/{old.id}/", {"title": "Old, renamed"})
    titles = [row["title"] for row in owner_client.get("/api/documents/").json()["results"]]
    assert titles == ["Old, renamed", "New"]


@pytest.mark.parametrize("title", ["", "x" * 201])
def test_create_validates_title(owner_client: APIClient, title: str) -> None:
    response = owner_client.post("/api/documents/", {"title": title})
    assert response.status_code == 400
    assert "title" in response.json()
    assert not Document.objects.exists()


def test_rename_and_delete(owner_client: APIClient) -> None:
    document = make_document(owner=owner_client.user)  # type: ignore[attr-defined]
    renamed = owner_client.patch(f"/api/documents/{document.id}/", {"title": "Renamed"})
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Renamed"
    assert owner_client.delete(f"/api/documents/{document.id}/").status_code == 204
    assert not Document.objects.filter(pk=document.id).exists()
    assert owner_client.get(f"/api/documents/{document.id}/").status_code == 404


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_document_is_404(owner_client: APIClient, document_id: str) -> None:
    assert owner_client.get(f"/api/documents/{document_id}/").status_code == 404


def test_stranger_gets_the_same_404_as_for_a_missing_document(
    login: Callable[..., APIClient],
) -> None:
    stranger = login()
    existing = stranger.get(f"/api/documents/{make_document().id}/")
    missing = stranger.get(f"/api/documents/{uuid.uuid4()}/")
    assert existing.status_code == missing.status_code == 404
    assert existing.json() == missing.json()
