from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from backend.documents.models import Membership, Role
from tests.support.factories import make_document, make_user, share

pytestmark = pytest.mark.django_db


@pytest.fixture
def doc_url(owner_client: APIClient) -> str:
    document = make_document(owner=owner_client.user)  # type: ignore[attr-defined]
    return f"/api/documents/{document.id}/members/"


def test_share_then_list_members(owner_client: APIClient, doc_url: str) -> None:
    make_user(username="bob")
    make_user(username="cy")
    assert owner_client.post(doc_url, {"username": "bob", "role": "editor"}).status_code == 201
    added = owner_client.post(doc_url, {"username": "cy", "role": "viewer"})
    assert added.status_code == 201
    assert added.json()["username"] == "cy"
    assert added.json()["role"] == "viewer"

    members = owner_client.get(doc_url).json()
    assert [(m["username"], m["role"]) for m in members] == [
        ("olivia", "owner"),
        ("bob", "editor"),
        ("cy", "viewer"),
    ]


def test_shared_user_sees_the_document_with_their_role(
    owner_client: APIClient, doc_url: str, login: Callable[..., APIClient]
) -> None:
    bob = make_user(username="bob")
    owner_client.post(doc_url, {"username": "bob", "role": "viewer"})
    rows = login(bob).get("/api/documents/").json()["results"]
    assert [row["role"] for row in rows] == ["viewer"]


def test_change_role_and_remove(owner_client: APIClient, doc_url: str) -> None:
    make_user(username="bob")
    owner_client.post(doc_url, {"username": "bob", "role": "viewer"})
    changed = owner_client.patch(f"{doc_url}bob/", {"role": "editor"})
    assert changed.status_code == 200
    assert changed.json()["role"] == "editor"
    assert Membership.objects.get(user__username="bob").role == "editor"
    assert owner_client.delete(f"{doc_url}bob/").status_code == 204
    assert not Membership.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nobody", "role": "viewer"}, "username"),
        ({"username": "olivia", "role": "viewer"}, "username"),
        ({"username": "bob", "role": "owner"}, "role"),
        ({"username": "bob", "role": "admin"}, "role"),
        ({"username": "bob"}, "role"),
        ({"role": "viewer"}, "username"),
    ],
)
def test_share_validation(
    owner_client: APIClient, doc_url: str, body: dict[str, str], field: str
) -> None:
    make_user(username="bob")
    response = owner_client.post(doc_url, body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Membership.objects.exists()


def test_sharing_twice_is_refused(owner_client: APIClient, doc_url: str) -> None:
    make_user(username="bob")
    owner_client.post(doc_url, {"username": "bob", "role": "viewer"})
    again = owner_client.post(doc_url, {"username": "bob", "role": "editor"})
    assert again.status_code == 400
    assert "PATCH" in again.json()["username"][0]
    assert Membership.objects.get().role == "viewer"


def test_non_member_is_404_and_owner_cannot_be_changed(
    owner_client: APIClient, doc_url: str
) -> None:
    make_user(username="bob")
    assert owner_client.patch(f"{doc_url}bob/", {"role": "editor"}).status_code == 404
    assert owner_client.delete(f"{doc_url}bob/").status_code == 404
    assert owner_client.patch(f"{doc_url}olivia/", {"role": "viewer"}).status_code == 400
    assert owner_client.delete(f"{doc_url}olivia/").status_code == 400


def test_a_nul_byte_in_a_member_name_is_404_not_a_server_error(
    owner_client: APIClient, doc_url: str
) -> None:
    """Found by hand while declaring the API's errors: PostgreSQL refuses NUL in text."""
    assert owner_client.delete(f"{doc_url}a%00b/").status_code == 404
    assert owner_client.patch(f"{doc_url}a%00b/", {"role": "editor"}).status_code == 404


def test_member_may_leave_but_not_remove_others(login: Callable[..., APIClient]) -> None:
    document = make_document()
    bob, cy = make_user(username="bob"), make_user(username="cy")
    share(document, bob, Role.VIEWER)
    share(document, cy, Role.EDITOR)
    url = f"/api/documents/{document.id}/members/"
    assert login(bob).delete(f"{url}cy/").status_code == 403
    assert login(bob).delete(f"{url}bob/").status_code == 204
    assert login(bob).get(f"/api/documents/{document.id}/").status_code == 404
    assert list(Membership.objects.values_list("user__username", flat=True)) == ["cy"]
