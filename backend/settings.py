"""Tandem settings, read from environment variables only.

With no environment at all this gives the embedded setup: a SQLite file under ``data/``
and the in-memory channel layer. Setting ``DATABASE_URL`` and ``REDIS_URL`` gives the
production setup (PostgreSQL, channels-redis). Every variable is listed in README.md.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DATA_DIR = Path(env.str("TANDEM_DATA_DIR", default=str(BASE_DIR / "data")))
DEBUG = env.bool("DEBUG", default=False)

EMBEDDED = not env.str("DATABASE_URL", default="")


def _embedded_secret_key(path: Path) -> str:
    """The embedded setup's key: generated once, kept in the data directory."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL set Tandem runs as a production "
            "server and needs SECRET_KEY: a long random string, for example from "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    SECRET_KEY = _embedded_secret_key(DATA_DIR / "secret_key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backend.documents",
    "backend.collab",
    "backend.notifications",
    "backend.webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tandem.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env.str("TEST_DATABASE_NAME", default=""):
    # Lets several test runs share one PostgreSQL server without dropping each other's database.
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A comma-separated list shards the channel layer over several Redis servers (channels-redis
# hashes channels and groups onto them; every replica lists them in the same order); presence,
# health and the other direct Redis users keep the first.
REDIS_URLS = [url.strip() for url in env.str("REDIS_URL", default="").split(",") if url.strip()]
REDIS_URL = REDIS_URLS[0] if REDIS_URLS else ""
REDIS_PREFIX = env.str("REDIS_PREFIX", default="tandem")
# What every Redis client of Tandem's opens its connections with. No CLIENT SETINFO:
# redis-py 8 sends it on every new connection (two commands, which Redis before 7.2
# refuses with an error that redis-py raises and swallows) after looking up its own
# package version (about 0.9 ms a connection; a pool opening 100 stalled the loop 196 ms).
REDIS_CLIENT_OPTIONS: dict[str, Any] = {"driver_info": None}
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis with one round trip per send and per batch received, and a
            # pool that waits for a free connection (backend/collab/edge/redis_layer.py).
            # It needs Redis 7+; channels_redis.core.RedisChannelLayer serves older ones.
            "BACKEND": env.str(
                "CHANNEL_LAYER_BACKEND",
                default="backend.collab.edge.redis_layer.TandemChannelLayer",
            ),
            "CONFIG": {
                # The layer's receive blocks in Redis for 5 s (BZMPOP); redis-py 8 reads
                # with a 5 s socket timeout by default, so every idle receive failed at
                # the same instant and the process heard nothing for a second each time
                # (and could lose the message popped meanwhile). Reads wait longer here.
                "hosts": [
                    {"address": url, "socket_timeout": 15, **REDIS_CLIENT_OPTIONS}
                    for url in REDIS_URLS
                ],
                "prefix": f"{REDIS_PREFIX}:layer",
                # One channel per process carries every room's traffic.
                "capacity": env.int("CHANNEL_CAPACITY", default=10_000),
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Real-time collaboration (backend/collab); see docs/protocol.md.
# A megabyte paste or a long offline stretch is one message: 32 MiB, as large as what a
# document may grow by at once; DOCUMENT_MAX_BYTES caps a document's stored size.
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=32 * 1024 * 1024)
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=128 * 1024 * 1024)
WS_MAX_MESSAGES_PER_SECOND = env.float("WS_MAX_MESSAGES_PER_SECOND", default=200)
WS_MAX_CONNECTIONS_PER_USER = env.int("WS_MAX_CONNECTIONS_PER_USER", default=50)
WS_MAX_QUEUED_BYTES = env.int("WS_MAX_QUEUED_BYTES", default=16 * 1024 * 1024)
WS_MAX_AWARENESS_BYTES = env.int("WS_MAX_AWARENESS_BYTES", default=64 * 1024)
# Browser origins (scheme://host[:port]) allowed to open WebSockets besides the server's own
# origin, which is always allowed (backend/collab/edge/origins.py): e.g. a frontend on
# another host. Scheme, host and port must all match.
WS_ALLOWED_ORIGINS = env.list("WS_ALLOWED_ORIGINS", default=[])
SNAPSHOT_EVERY = env.int("SNAPSHOT_EVERY", default=500)
ROOM_MAX_WAITING_UPDATES = env.int("ROOM_MAX_WAITING_UPDATES", default=256)
ROOM_IDLE_SECONDS = env.float("ROOM_IDLE_SECONDS", default=5.0)
LOG_CHECK_SECONDS = env.float("LOG_CHECK_SECONDS", default=3.0)
# Update-log commits that may run at once, each on a database connection of its own
# (storage/group_commit.py); 1 commits one batch at a time, which gave the lower latency
# on the bench machine (2 cores): larger batches, fewer flushes. SQLite always uses 1.
COMMIT_CONNECTIONS = env.int("COMMIT_CONNECTIONS", default=1)
# A thread samples the event loop's stack while it stalls over 100 ms and logs it
# (backend/collab/edge/loop_lag.py); 0 turns it off.
LOOP_STALL_STACKS = env.bool("LOOP_STALL_STACKS", default=True)
# Update-log rows older than this many days fold into snapshots (compact_update_log,
# docs/retention.md); 0 keeps every row.
UPDATE_LOG_RETENTION_DAYS = env.int("UPDATE_LOG_RETENTION_DAYS", default=0)
REPLICA_NAME = env.str("REPLICA_NAME", default=f"{socket.gethostname()}-{os.getpid()}")
PRESENCE_TTL_SECONDS = env.float("PRESENCE_TTL_SECONDS", default=15.0)
PRESENCE_HEARTBEAT_SECONDS = env.float("PRESENCE_HEARTBEAT_SECONDS", default=5.0)

# Notifications: each user's inbox keeps at most this many, none older than this.
NOTIFICATIONS_MAX_PER_USER = env.int("NOTIFICATIONS_MAX_PER_USER", default=1000)
NOTIFICATIONS_RETENTION_DAYS = env.int("NOTIFICATIONS_RETENTION_DAYS", default=90)
# Live notification connections (WebSocket and SSE together) per user per process.
NOTIFICATIONS_MAX_CONNECTIONS_PER_USER = env.int(
    "NOTIFICATIONS_MAX_CONNECTIONS_PER_USER", default=10
)
SSE_HEARTBEAT_SECONDS = env.float("SSE_HEARTBEAT_SECONDS", default=15.0)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
SHUTDOWN_FLUSH_SECONDS = env.float("SHUTDOWN_FLUSH_SECONDS", default=10.0)

# Webhooks (backend/webhooks, docs/operations.md "Webhooks"). WEBHOOK_DELIVERY: "inline"
# delivers from each web process; "off" leaves it to `manage.py deliver_webhooks`.
WEBHOOK_DELIVERY = env.str("WEBHOOK_DELIVERY", default="inline")
if WEBHOOK_DELIVERY not in {"inline", "off"}:
    raise ImproperlyConfigured("WEBHOOK_DELIVERY is 'inline' (the default) or 'off'.")
WEBHOOK_CHANGE_INTERVAL_SECONDS = env.float("WEBHOOK_CHANGE_INTERVAL_SECONDS", default=2.0)
WEBHOOK_POLL_SECONDS = env.float("WEBHOOK_POLL_SECONDS", default=1.0)
WEBHOOK_BATCH = env.int("WEBHOOK_BATCH", default=50)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_RESPONSE_BYTES = env.int("WEBHOOK_MAX_RESPONSE_BYTES", default=64 * 1024)
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=60.0)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=3600.0)
WEBHOOK_RETRY_FOR_SECONDS = env.float("WEBHOOK_RETRY_FOR_SECONDS", default=86400.0)
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=3 * 86400.0)
WEBHOOK_SECRET_GRACE_SECONDS = env.float("WEBHOOK_SECRET_GRACE_SECONDS", default=86400.0)
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# Finished deliveries (and their attempts) are kept this long in the delivery log.
WEBHOOK_LOG_RETENTION_DAYS = env.int("WEBHOOK_LOG_RETENTION_DAYS", default=30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

# The browser editor's build (frontend/, `make run` builds it): WhiteNoise serves its files at
# the site root, backend/spa.py answers the app's own routes with its index page.
FRONTEND_DIST = Path(env.str("FRONTEND_DIST", default=str(BASE_DIR / "frontend" / "dist")))
WHITENOISE_ROOT = FRONTEND_DIST
# Vite names built assets `assets/<name>-<hash>.<ext>`: cache those forever.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^/?assets/.+-[0-9A-Za-z_-]{8,}\.\w+$"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backend.documents.tokens.RevocableJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backend.documents.exception_handler.api_exception_handler",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_LIFETIME", default=15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_REFRESH_LIFETIME", default=7 * 24 * 3600)
    ),
    "UPDATE_LAST_LOGIN": False,
    "TOKEN_OBTAIN_SERIALIZER": "backend.documents.tokens.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "backend.documents.tokens.TokenRefreshCheckingSerializer",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tandem API",
    "DESCRIPTION": "Documents, sharing, content and history of the Tandem collaborative editor.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "backend.log_redaction.RedactTokensFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
