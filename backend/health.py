"""Liveness and readiness probes."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The database and, when configured, Redis answer; 503 names what does not."""
    checks: dict[str, str] = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis(settings.REDIS_URL)
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("readiness: database check failed")
        return "unreachable"
    return "ok"


def _check_redis(url: str) -> str:
    client = redis.Redis.from_url(
        url, socket_timeout=2, socket_connect_timeout=2, **settings.REDIS_CLIENT_OPTIONS
    )
    try:
        client.ping()
    except redis.RedisError:
        logger.exception("readiness: redis check failed")
        return "unreachable"
    finally:
        client.close()
    return "ok"
