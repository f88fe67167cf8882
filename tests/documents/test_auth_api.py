from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.support.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_register_then_log_in_and_see_me(api: APIClient) -> None:
    created = api.post("/api/auth/register/", {"username": "ada", "password": PASSWORD})
    assert created.status_code == 201
    assert created.json()["username"] == "ada"
    assert "password" not in created.json()

    tokens = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD}).json()
    assert set(tokens) == {"access", "refresh"}

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api.get("/api/auth/me/")
    assert me.status_code == 200
    assert me.json() == {"id": created.json()["id"], "username": "ada"}


def test_refresh_gives_a_working_access_token(api: APIClient) -> None:
    make_user(username="ada")
    refresh = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD}).json()[
        "refresh"
    ]
    response = api.post("/api/auth/token/refresh/", {"refresh": refresh})
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert api.get("/api/auth/me/").json()["username"] == "ada"


def test_register_refuses_a_taken_name_case_insensitively(api: APIClient) -> None:
    make_user(username="ada")
    response = api.post("/api/auth/register/", {"username": "ADA", "password": PASSWORD})
    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "ada-lovelace"])
def test_register_refuses_a_weak_password(api: APIClient, password: str) -> None:
    response = api.post("/api/auth/register/", {"username": "ada-lovelace", "password": password})
    assert response.status_code == 400
    assert response.json()["password"]


def test_register_refuses_a_bad_username(api: APIClient) -> None:
    response = api.post("/api/auth/register/", {"username": "a b", "password": PASSWORD})
    assert response.status_code == 400
    assert "username" in response.json()


def test_wrong_password_gets_401(api: APIClient) -> None:
    make_user(username="ada")
    response = api.post("/api/auth/token/", {"username": "ada", "password": "nope"})
    assert response.status_code == 401


def test_inactive_user_cannot_log_in(api: APIClient) -> None:
    make_user(username="ada", is_active=False)
    response = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 401


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_me_needs_a_valid_token(api: APIClient, header: str | None) -> None:
    if header:
        api.credentials(HTTP_AUTHORIZATION=header)
    assert api.get("/api/auth/me/").status_code == 401


def test_refresh_token_is_not_an_access_token(api: APIClient) -> None:
    make_user(username="ada")
    refresh = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD}).json()[
        "refresh"
    ]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh}")
    assert api.get("/api/auth/me/").status_code == 401


def test_logout_everywhere_revokes_access_and_refresh_tokens(api: APIClient) -> None:
    make_user(username="ada")
    first = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD}).json()
    second = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD}).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first['access']}")
    assert api.post("/api/auth/logout-all/").status_code == 204

    for tokens in (first, second):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert api.get("/api/auth/me/").status_code == 401
        api.credentials()
        refreshed = api.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
        assert refreshed.status_code == 401
    fresh = api.post("/api/auth/token/", {"username": "ada", "password": PASSWORD}).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert api.get("/api/auth/me/").status_code == 200
