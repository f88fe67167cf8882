"""deploy/nginx/nginx.conf, checked by Debian's nginx and exercised on loopback.

The configuration is used as docker-compose.yml mounts it, with two substitutions only:
the replicas' host names become loopback ports (nginx resolves upstream names at start) and
the listen port becomes a free loopback port. Two stand-in replicas answer with their name
and the headers they received, so the tests see where nginx sends each request.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import ROOT, tool
from tests.support.servers import free_port, listening
from tests.support.waiting import wait_until

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
REPLICAS = ("tandem-1", "tandem-2")


def loopback_config(listen: int, replicas: dict[str, int]) -> str:
    text = NGINX_CONF.read_text()
    text, servers = re.subn(
        r"server (tandem-\d):8000", lambda m: f"server 127.0.0.1:{replicas[m[1]]}", text
    )
    assert servers == 2 * len(replicas), "each upstream lists every replica"
    text, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
    assert listens == 1
    return text


def nginx_command(conf: Path, *extra: str) -> list[str]:
    """nginx on ``conf``; an ``extra`` "-g" joins ours (nginx obeys only the last "-g")."""
    prefix = conf.parent
    directives = f"pid {prefix}/nginx.pid; error_log {prefix}/error.log notice;"
    rest: list[str] = []
    args = iter(extra)
    for arg in args:
        if arg == "-g":
            directives += f" {next(args)}"
        else:
            rest.append(arg)
    return [tool("nginx"), "-p", str(prefix), "-c", str(conf), "-g", directives, *rest]


class StandInReplica(BaseHTTPRequestHandler):
    """Answers any GET with its replica name, the path and the headers it received."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "replica": self.server.replica,  # type: ignore[attr-defined]
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Proxy:
    port: int
    replicas: dict[str, ThreadingHTTPServer]
    access_log: Path

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        is_json = response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(body) if is_json else body

    def replica_of(self, path: str) -> str:
        status, body = self.get(path)
        assert status == 200, (path, status, body)
        return str(body["replica"])

    def stop_replica(self, name: str) -> None:
        self.replicas[name].shutdown()
        self.replicas[name].server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    replicas: dict[str, ThreadingHTTPServer] = {}
    for name in REPLICAS:
        server = ThreadingHTTPServer(("127.0.0.1", 0), StandInReplica)
        server.replica = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        replicas[name] = server
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(loopback_config(port, {n: s.server_port for n, s in replicas.items()}))
    access_log = tmp_path / "access.log"
    with access_log.open("a") as stdout:  # appends: nginx writes to it by two descriptors
        nginx = subprocess.Popen(
            nginx_command(conf, "-g", "daemon off;"), stdout=stdout, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: nginx.poll() is not None or listening(port), what="nginx to listen")
        assert nginx.poll() is None, (tmp_path / "error.log").read_text()
        yield Proxy(port=port, replicas=replicas, access_log=access_log)
    finally:
        nginx.send_signal(signal.SIGTERM)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        for server in replicas.values():
            server.shutdown()
            server.server_close()


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(loopback_config(free_port(), {"tandem-1": 1, "tandem-2": 2}))
    result = subprocess.run(
        nginx_command(conf, "-t"), capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_nginx_check_rejects_a_broken_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    text = loopback_config(free_port(), {"tandem-1": 1, "tandem-2": 2})
    conf.write_text(text.replace("hash $tandem_document_id consistent;", "hash;"))
    result = subprocess.run(
        nginx_command(conf, "-t"), capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0


def test_a_documents_websockets_reach_one_replica_whatever_the_query_string(
    proxy: Proxy,
) -> None:
    seen: set[str] = set()
    for document in range(1, 41):
        replicas = {
            proxy.replica_of(path)
            for path in (
                f"/ws/documents/{document}?token=first-client",
                f"/ws/documents/{document}?token=second-client&x=1",
                f"/ws/documents/{document}/?token=third-client",
                f"/ws/documents/{document}",
            )
        }
        assert len(replicas) == 1, (document, replicas)
        seen |= replicas
    assert seen == set(REPLICAS), "documents spread over both replicas"


def test_the_rest_api_is_round_robin(proxy: Proxy) -> None:
    replicas = [proxy.replica_of("/api/documents/") for _ in range(6)]
    assert replicas.count("tandem-1") == replicas.count("tandem-2") == 3, replicas


def test_websocket_handshakes_keep_their_upgrade_headers(proxy: Proxy) -> None:
    status, body = proxy.get(
        "/ws/documents/7?token=secret",
        {"Upgrade": "websocket", "Connection": "Upgrade", "Host": "localhost:8080"},
    )
    assert status == 200
    headers = body["headers"]
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "upgrade"
    assert headers["host"] == "localhost:8080", "the port stays for absolute URLs"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert body["path"] == "/ws/documents/7?token=secret", "the token reaches the replica"
    _, plain = proxy.get("/api/documents/")
    assert plain["headers"].get("connection", "") != "upgrade"
    assert plain["headers"]["host"] == f"127.0.0.1:{proxy.port}"
    assert plain["headers"]["x-forwarded-proto"] == "http"


def test_the_access_log_never_holds_a_token(proxy: Proxy) -> None:
    proxy.replica_of("/ws/documents/3?token=very-secret-token")
    proxy.replica_of("/api/documents/?token=another-secret")
    log = wait_until(
        lambda: (text := proxy.access_log.read_text()).count("\n") >= 2 and text,
        timeout=5,
        what="two lines in the access log",
    )
    assert "/ws/documents/3" in log
    assert "doc=3" in log
    assert "secret" not in log
    assert "token" not in log


def test_no_log_holds_a_token_when_a_replica_is_down(proxy: Proxy, tmp_path: Path) -> None:
    # nginx's error log quotes the whole request line (query string included) when an
    # upstream fails, and an upstream does fail: a replica restarts, drains or dies.
    proxy.stop_replica("tandem-1")
    for doc in range(1, 11):
        assert proxy.replica_of(f"/ws/documents/{doc}?token=secret-value") == "tandem-2"
        assert proxy.replica_of(f"/api/documents/?token=secret-value&n={doc}") == "tandem-2"
    log = wait_until(
        lambda: (text := proxy.access_log.read_text()).count("\n") >= 20 and text,
        timeout=5,
        what="twenty lines in the access log",
    )
    for text in (log, (tmp_path / "error.log").read_text()):
        assert "secret-value" not in text
        assert "token=" not in text
    assert "status=502, 200" in log, "the access log still shows the failed attempts"


def test_metrics_are_not_served_to_the_public(proxy: Proxy) -> None:
    status, _ = proxy.get("/metrics")
    assert status == 404
    assert proxy.get("/healthz")[0] == 200


def test_a_documents_clients_move_to_the_survivor_when_its_replica_is_gone(
    proxy: Proxy,
) -> None:
    home = {doc: proxy.replica_of(f"/ws/documents/{doc}?token=t") for doc in range(1, 21)}
    victim = "tandem-1"
    assert victim in home.values()
    proxy.stop_replica(victim)
    for doc, replica in home.items():
        moved = proxy.replica_of(f"/ws/documents/{doc}?token=t")
        assert moved == "tandem-2", (doc, replica, moved)
