"""Tandem's REST API called over HTTP, as any client of a server process calls it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.support.factories import PASSWORD
from tests.support.servers import TandemProcess


def api(
    server: TandemProcess | str, method: str, path: str, body: Any = None, token: str = ""
) -> Any:
    """``method path`` with a JSON ``body`` (and a bearer ``token``); the decoded answer.
    ``server`` is a process or its base URL (``http://host:port``)."""
    base = server if isinstance(server, str) else server.http_url
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310
        f"{base}{path}", data=data, headers=headers, method=method
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        text = response.read()
    return json.loads(text) if text else None


def token(server: TandemProcess | str, username: str, password: str = PASSWORD) -> str:
    """An access token for an existing account."""
    pair = api(server, "POST", "/api/auth/token/", {"username": username, "password": password})
    return str(pair["access"])


def register(server: TandemProcess | str, username: str, password: str = PASSWORD) -> None:
    """A new account, made by the server (which hashes its password)."""
    api(server, "POST", "/api/auth/register/", {"username": username, "password": password})


def shared_document(
    server: TandemProcess | str, owner_token: str, title: str, **members: str
) -> dict[str, Any]:
    """A new document of the token's owner, shared with ``members`` (username: role)."""
    document: dict[str, Any] = api(server, "POST", "/api/documents/", {"title": title}, owner_token)
    for username, role in members.items():
        path = f"/api/documents/{document['id']}/members/"
        api(server, "POST", path, {"username": username, "role": role}, owner_token)
    return document
