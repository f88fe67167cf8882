"""The inbox through the REST API: what sharing, role changes, removals, renames and
deletions leave there, numbered per user, and marking read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from backend.notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(login: Callable[..., APIClient]) -> APIClient:
    return login(username="bob")


@pytest.fixture
def document(owner_client: APIClient) -> dict[str, Any]:
    created = owner_client.post("/api/documents/", {"title": "Q3 plan"})
    assert created.status_code == 201
    return dict(created.json())


def _inbox(client: APIClient, query: str = "") -> list[dict[str, Any]]:
    answer = client.get(f"/api/notifications/{query}")
    assert answer.status_code == 200, answer.content
    return list(answer.json()["results"])


def _members(document: dict[str, Any]) -> str:
    return f"/api/documents/{document['id']}/members/"


def test_sharing_tells_the_member_who_shared_what_and_with_which_role(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any]
) -> None:
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    (shared,) = _inbox(bob)
    assert shared["type"] == "document.shared"
    assert shared["actor"]["username"] == "olivia"
    assert shared["document"] == {"id": document["id"], "title": "Q3 plan"}
    assert shared["data"] == {"role": "editor"}
    assert shared["read"] is False
    assert shared["id"] == 1
    assert _inbox(owner_client) == [], "the one who shared was told of their own act"


def test_every_change_lands_in_order_and_numbered_per_user(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any]
) -> None:
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    owner_client.patch(f"{_members(document)}bob/", {"role": "viewer"})
    owner_client.patch(f"{_members(document)}bob/", {"role": "viewer"})  # no change: no news
    owner_client.patch(f"/api/documents/{document['id']}/", {"title": "Q4 plan"})
    owner_client.delete(f"{_members(document)}bob/")
    newest_first = [(n["id"], n["type"], n["data"]) for n in _inbox(bob)]
    assert newest_first == [
        (4, "member.removed", {}),
        (3, "document.renamed", {"previous_title": "Q3 plan"}),
        (2, "member.role_changed", {"role": "viewer"}),
        (1, "document.shared", {"role": "editor"}),
    ]


def test_a_rename_and_a_deletion_tell_every_member_but_the_actor(
    owner_client: APIClient, login: Callable[..., APIClient], document: dict[str, Any]
) -> None:
    members = {name: login(username=name) for name in ("bob", "cy")}
    for name in members:
        owner_client.post(_members(document), {"username": name, "role": "editor"})
    members["bob"].patch(f"/api/documents/{document['id']}/", {"title": "Renamed"})
    owner_client.delete(f"/api/documents/{document['id']}/")
    assert [n["type"] for n in _inbox(owner_client)] == ["document.renamed"]
    assert [n["type"] for n in _inbox(members["bob"])] == ["document.deleted", "document.shared"]
    deleted, renamed, _ = _inbox(members["cy"])
    assert (renamed["type"], renamed["actor"]["username"]) == ("document.renamed", "bob")
    assert deleted["document"] == {"id": document["id"], "title": "Renamed"}


def test_a_failed_change_leaves_no_notification(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any]
) -> None:
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    again = owner_client.post(_members(document), {"username": "bob", "role": "viewer"})
    assert again.status_code == 400
    assert [n["type"] for n in _inbox(bob)] == ["document.shared"]


def test_marking_read_by_id_and_all(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any]
) -> None:
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    owner_client.patch(f"{_members(document)}bob/", {"role": "viewer"})
    owner_client.patch(f"{_members(document)}bob/", {"role": "editor"})
    assert bob.get("/api/notifications/unread/").json() == {"unread": 3}
    marked = bob.post("/api/notifications/read/", {"ids": [1, 99]}, format="json")
    assert marked.json() == {"marked": 1, "unread": 2}
    assert [n["id"] for n in _inbox(bob, "?unread=1")] == [3, 2]
    assert bob.post("/api/notifications/read/", {"all": True}, format="json").json() == {
        "marked": 2,
        "unread": 0,
    }
    assert _inbox(bob, "?unread=1") == []
    # Nobody marks another's: the same numbers in olivia's (empty) inbox change nothing.
    assert owner_client.post("/api/notifications/read/", {"ids": [1]}, format="json").json() == {
        "marked": 0,
        "unread": 0,
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": ["one"]},
        {"ids": [0, -1]},
        {"ids": [True]},
        {"all": "maybe"},
        {"ids": 3},
        {"ids": list(range(1, 1002))},
    ],
)
def test_a_malformed_mark_read_is_a_400_and_changes_nothing(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any], body: dict[str, Any]
) -> None:
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    answer = bob.post("/api/notifications/read/", body, format="json")
    assert answer.status_code == 400, answer.content
    # The error schema's shape: each key's value a list of messages (not per list index).
    assert all(isinstance(v, list) for v in answer.json().values()), answer.json()
    assert bob.get("/api/notifications/unread/").json() == {"unread": 1}


def test_the_inbox_needs_a_token(api: APIClient) -> None:
    for method, path in [
        ("get", "/api/notifications/"),
        ("get", "/api/notifications/unread/"),
        ("post", "/api/notifications/read/"),
    ]:
        assert getattr(api, method)(path).status_code == 401


def test_an_inbox_keeps_at_most_the_configured_number(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any], settings: Any
) -> None:
    settings.NOTIFICATIONS_MAX_PER_USER = 3
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    for role in ("viewer", "editor", "viewer", "editor"):
        owner_client.patch(f"{_members(document)}bob/", {"role": role})
    assert [n["id"] for n in _inbox(bob)] == [5, 4, 3]


def test_old_notifications_expire(
    owner_client: APIClient, bob: APIClient, document: dict[str, Any], settings: Any
) -> None:
    owner_client.post(_members(document), {"username": "bob", "role": "editor"})
    Notification.objects.update(created_at="2000-01-01T00:00:00Z")
    owner_client.patch(f"{_members(document)}bob/", {"role": "viewer"})
    assert [n["id"] for n in _inbox(bob)] == [2]
