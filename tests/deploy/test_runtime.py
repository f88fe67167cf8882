"""The commands the deployment files run, run for real against this checkout.

No container runs here, so each command runs as the image would run it: the build-time
collectstatic, the Docker healthcheck, the Kubernetes probes with the ConfigMap's settings,
and the init container that waits for migrations.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.deploy.manifests import ROOT, containers, find, render
from tests.deploy.test_container import _env, dockerfile_stages
from tests.support.servers import free_port, listening
from tests.support.waiting import wait_until


def _clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without Tandem's settings, plus ``variables``."""
    tandem = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "TEST_DATABASE_NAME"}
    env = {k: v for k, v in os.environ.items() if k not in tandem}
    env.update(variables)
    return env


def _python_tool(command: list[str]) -> list[str]:
    """Run ``python ...`` with this test run's interpreter (the image's is on its PATH)."""
    return [sys.executable, *command[1:]] if command[0] == "python" else command


@contextmanager
def tandem_server(env: dict[str, str]) -> Iterator[int]:
    """``python -m backend.serve`` (the image's CMD) on a free loopback port."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        _python_tool(json.loads(dockerfile_stages()[-1].all("CMD")[0])),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: process.poll() is not None or listening(port),
            timeout=30,
            what="Tandem to listen",
        )
        assert process.poll() is None, process.communicate()[1]
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(port: int, path: str, host: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_build_time_collectstatic_fills_the_data_dir_without_a_secret(tmp_path: Path) -> None:
    runtime = dockerfile_stages()[-1]
    (collect,) = [run for run in runtime.all("RUN") if "collectstatic" in run]
    command = collect.split("&&")[1].split()
    key_assignment, manage = command[0], command[1:]
    assert key_assignment.startswith("SECRET_KEY=")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    image_env = _env(runtime)
    env = _clean_env(
        TANDEM_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE=image_env["DJANGO_SETTINGS_MODULE"],
        SECRET_KEY=key_assignment.partition("=")[2],
    )
    result = subprocess.run(
        _python_tool(manage), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (data_dir / "static" / "admin").is_dir()
    assert (data_dir / "static" / "drf_spectacular_sidecar").is_dir()
    assert sorted(p.name for p in data_dir.iterdir()) == ["static"], "no key, no database"


def _healthcheck() -> list[str]:
    (healthcheck,) = dockerfile_stages()[-1].all("HEALTHCHECK")
    return _python_tool(json.loads(healthcheck.partition(" CMD ")[2]))


def test_the_image_healthcheck_passes_only_while_localhost_is_allowed(tmp_path: Path) -> None:
    hosts = {"served": "tandem.example.com,localhost", "misconfigured": "tandem.example.com"}
    for case, allowed_hosts in hosts.items():
        env = _clean_env(TANDEM_DATA_DIR=str(tmp_path / case), ALLOWED_HOSTS=allowed_hosts)
        with tandem_server(env) as port:
            result = subprocess.run(
                _healthcheck(), env={**env, "PORT": str(port)}, capture_output=True, timeout=30
            )
        assert (result.returncode == 0) is (case == "served"), (case, result.stderr)


def test_the_probes_pass_with_the_configmap_settings(tmp_path: Path) -> None:
    resources = render("overlays/example")
    config = find(resources, "ConfigMap", "tandem-config")["data"]
    deployment = find(resources, "Deployment", "tandem")
    (app,) = deployment["spec"]["template"]["spec"]["containers"]
    env = _clean_env(
        **config,
        TANDEM_DATA_DIR=str(tmp_path),
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        SECRET_KEY="test-only-secret-key-for-the-probe-test",
    )
    with tandem_server(env) as port:
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = app[kind]["httpGet"]
            (host,) = [h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"]
            assert _get(port, probe["path"], host) == 200, kind
        ingress_host = find(resources, "Ingress", "tandem")["spec"]["rules"][0]["host"]
        assert _get(port, "/healthz", ingress_host) == 200
        # Without the Host header, a kubelet would send the pod's IP: refused.
        assert _get(port, "/healthz", "10.1.2.3") == 400


def test_the_init_container_waits_until_migrations_have_run(tmp_path: Path) -> None:
    deployment = find(render("overlays/example"), "Deployment", "tandem")
    (wait,) = [
        c
        for c in containers(deployment["spec"]["template"]["spec"])
        if c["name"] == "wait-for-migrations"
    ]
    python_dir = str(Path(sys.executable).parent)
    env = _clean_env(TANDEM_DATA_DIR=str(tmp_path), PATH=f"{python_dir}:{os.environ['PATH']}")
    waiting = subprocess.Popen(
        wait["command"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(5)  # nothing happens for a while: it keeps waiting
        assert waiting.poll() is None, "it must wait while migrations are missing"
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr
        assert waiting.wait(timeout=60) == 0
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
