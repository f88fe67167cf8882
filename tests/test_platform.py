"""OpenAPI, health probes, admin and log redaction."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from backend.log_redaction import RedactTokensFilter

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_contract(api: APIClient) -> None:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/auth/me/",
        "/api/documents/",
        "/api/documents/{document_id}/",
        "/api/documents/{document_id}/members/",
        "/api/documents/{document_id}/members/{username}/",
    ]:
        assert path in schema["paths"], path


def test_swagger_ui_is_served_without_a_cdn(api: APIClient) -> None:
    response = api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()


def test_healthz(api: APIClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_and_redis(api: APIClient) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_is_503_when_redis_is_unreachable(api: APIClient) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unreachable"


def test_admin_lists_documents_for_staff(admin_client: object) -> None:
    response = admin_client.get("/admin/documents/document/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    response = admin_client.get("/admin/documents/membership/")  # type: ignore[attr-defined]
    assert response.status_code == 200


def test_log_filter_redacts_tokens_in_access_log_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/ws/documents/x?token=eyJhbGci.secret.sig&since=4", "1.1", 101),
        None,
    )
    RedactTokensFilter().filter(record)
    line = record.getMessage()
    assert "eyJhbGci" not in line
    assert "token=[redacted]&since=4" in line


def test_an_unknown_api_path_gets_the_json_error_body(api: APIClient) -> None:
    response = api.get("/api/documents/not-a-route/at/all/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/docs/" in response.json()["detail"]
    elsewhere = api.get("/no/such/page")  # not a route of the browser app either
    assert elsewhere.status_code == 404
    assert elsewhere["Content-Type"].startswith("text/html")
