"""The handshake's Origin check through the real WebSocket endpoint: scheme, host and port.

By default a page may open a socket only from the server's own origin (the handshake's
scheme and ``Host``, which must be one of ``ALLOWED_HOSTS``); ``WS_ALLOWED_ORIGINS`` adds
full origins. A handshake without ``Origin`` (native and command-line clients) is allowed.
A refused one gets HTTP 403 before the socket opens.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import websockets

from tests.support.factories import token_for
from tests.support.scene import Scene
from tests.support.servers import TandemProcess, server_env
from tests.support.waiting import wait_until
from tests.support.yclient import YClient


async def _opens(scene: Scene, origin: str | None, *, url: str | None = None) -> bool:
    """Whether a socket sent with ``origin`` opens and syncs; ``False`` on HTTP 403."""
    client = YClient(url or scene.url())
    status = 101
    try:
        await client.connect(origin=origin)
    except websockets.InvalidStatus as refused:
        status = refused.response.status_code
    if status != 101:
        assert status == 403, f"{origin}: HTTP {status}"
        return False
    scene.clients.append(client)
    await asyncio.wait_for(client.synced.wait(), 10)
    return True


async def _status(port: int, path: str, headers: dict[str, str]) -> int:
    """The HTTP status of a raw WebSocket handshake: headers (``Host`` too) sent as given."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status.split()[1])


def _own(scene: Scene) -> str:
    return f"http://127.0.0.1:{scene.server.port}"


# --- the default: the server's own origin only -------------------------------------------


async def test_own_origin_is_accepted(scene: Scene) -> None:
    assert await _opens(scene, _own(scene))


async def test_own_host_with_another_scheme_is_refused(scene: Scene) -> None:
    assert not await _opens(scene, f"https://127.0.0.1:{scene.server.port}")


async def test_own_host_on_another_port_is_refused(scene: Scene) -> None:
    assert not await _opens(scene, f"http://127.0.0.1:{scene.server.port + 1}")
    assert not await _opens(scene, "http://127.0.0.1")  # port 80 is not the server's port


async def test_host_case_does_not_matter(scene: Scene) -> None:
    url = scene.url().replace("127.0.0.1", "localhost", 1)
    assert await _opens(scene, f"http://LocalHost:{scene.server.port}", url=url)


async def test_handshake_without_origin_is_allowed(scene: Scene) -> None:
    """Native and command-line clients send no Origin and authenticate by token alone."""
    assert await _opens(scene, None)


async def test_host_not_in_allowed_hosts_is_not_an_own_origin(scene: Scene) -> None:
    """DNS rebinding: a page at http://rebound.example:<port> resolving to this server."""
    origin = f"rebound.example:{scene.server.port}"
    path = f"/ws/documents/{scene.document.id}?token={token_for(scene.owner)}"
    assert (
        await _status(scene.server.port, path, {"Host": origin, "Origin": f"http://{origin}"})
        == 403
    )
    own = f"127.0.0.1:{scene.server.port}"
    assert await _status(scene.server.port, path, {"Host": own, "Origin": f"http://{own}"}) == 101


async def test_refusal_is_logged_with_the_fix_and_without_the_token(scene: Scene) -> None:
    token = token_for(scene.owner)
    assert not await _opens(scene, "https://evil.example:1234", url=scene.url(token=token))
    log_path = scene.server.log_path
    assert log_path is not None
    line = wait_until(
        lambda: next(
            (ln for ln in log_path.read_text().splitlines() if "Refused a WebSocket" in ln), None
        ),
        what="the refusal's log line",
    )
    assert "'https://evil.example:1234'" in line
    assert "WS_ALLOWED_ORIGINS" in line
    assert token not in log_path.read_text()


# --- WS_ALLOWED_ORIGINS: full origins ------------------------------------------------------


class TestConfiguredOrigins:
    @pytest.fixture
    def server_overrides(self) -> dict[str, str]:
        return {"WS_ALLOWED_ORIGINS": "https://App.Example.com,http://tools.example.com:8080"}

    async def test_listed_origins_are_accepted_with_default_ports_and_any_case(
        self, scene: Scene
    ) -> None:
        for origin in (
            "https://app.example.com",
            "https://app.example.com:443",
            "https://APP.example.COM",
            "http://tools.example.com:8080",
        ):
            assert await _opens(scene, origin), origin
        assert await _opens(scene, _own(scene)), "the server's own origin stays allowed"
        assert await _opens(scene, None), "no Origin stays allowed"

    async def test_another_scheme_or_port_is_refused(self, scene: Scene) -> None:
        for origin in (
            "http://app.example.com",
            "http://app.example.com:443",
            "https://app.example.com:8443",
            "http://tools.example.com",
            "https://tools.example.com:8080",
            "https://evil.example.com",
            "null",
        ):
            assert not await _opens(scene, origin), origin


def test_a_host_name_alone_is_not_an_origin(transactional_db: None, tmp_path: Path) -> None:
    """The old host-pattern form stops the server with a message saying what to write."""
    log = tmp_path / "server.log"
    process = TandemProcess(server_env(WS_ALLOWED_ORIGINS="tandem.example.com"), log_path=log)
    with pytest.raises(RuntimeError, match="did not start"):
        process.start(timeout=20)
    assert "WS_ALLOWED_ORIGINS entry 'tandem.example.com' is not an origin" in log.read_text()
