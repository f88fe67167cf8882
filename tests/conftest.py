"""Suite-wide fixtures. The suite runs against the real PostgreSQL and Redis (see Makefile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests.support.factories import make_user, token_for

# Fixtures that live in tests/support, for every test of the suite.
pytest_plugins = ["tests.support.scene", "tests.support.datastores"]


def _service_problem() -> str | None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return (
            "The test suite runs against PostgreSQL, but DATABASE_URL points at "
            f"{db['ENGINE']}. Run it with `make test`, or set "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test."
        )
    try:
        psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=int(db["PORT"] or 5432),
            user=db["USER"],
            dbname=db["NAME"],
            password=db.get("PASSWORD") or None,
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return (
            f"PostgreSQL is not reachable at {db['HOST']}:{db['PORT']} ({exc}). "
            "Start it (pg_ctlcluster <version> main start) or point DATABASE_URL at one."
        )
    if not settings.REDIS_URL:
        return "The test suite needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0."
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return (
            f"Redis is not reachable at {settings.REDIS_URL} ({exc}). Start it "
            "(redis-server --daemonize yes --port 6379) or point REDIS_URL at one."
        )
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = _service_problem()
    if problem:
        pytest.exit(f"Missing service: {problem}", returncode=3)


@pytest.fixture
def api() -> APIClient:
    """An anonymous REST client."""
    return APIClient()


@pytest.fixture
def login(db: None) -> Callable[..., APIClient]:
    """Make a user (or take one) and return a REST client holding their access token."""

    def _login(user: Any = None, **user_fields: Any) -> APIClient:
        user = user or make_user(**user_fields)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
        client.user = user  # type: ignore[attr-defined]
        return client

    return _login


@pytest.fixture
def owner_client(login: Callable[..., APIClient]) -> APIClient:
    return login(username="olivia")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
