"""The layers of backend/collab import only toward the core, and the core runs without Django;
documents, collab, notifications and webhooks depend one way.

docs/architecture.md ("Layers") says which layer may import which; these tests hold the
code to it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COLLAB = ROOT / "backend" / "collab"

DOMAIN = "backend.documents."
# What each layer may import from backend.collab and backend.documents.
ALLOWED = {
    "core": ("backend.collab.core", "backend.documents.errors"),
    "storage": (
        "backend.collab.core",
        "backend.collab.storage",
        "backend.collab.models",
        "backend.collab.signals",
        DOMAIN,
    ),
    "edge": ("backend.collab.core", "backend.collab.storage", "backend.collab.edge", DOMAIN),
    "api": ("backend.collab.", DOMAIN),
}
OUTSIDE = ("django", "channels", "rest_framework", "rest_framework_simplejwt", "redis")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(layer: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((COLLAB / layer).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(("backend.collab", "backend.documents"))
        and not name.startswith(ALLOWED[layer])
    ]
    assert not wrong, f"{layer}/ imports what docs/architecture.md forbids it:\n" + "\n".join(wrong)


def test_the_core_imports_without_django_channels_drf_or_redis() -> None:
    """In a fresh interpreter: import every core module, then list the outside packages loaded."""
    script = f"""
import importlib, pkgutil, sys
import backend.collab.core as core
for module in pkgutil.iter_modules(core.__path__):
    importlib.import_module("backend.collab.core." + module.name)
print(len(list(pkgutil.iter_modules(core.__path__))))
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}} & set({OUTSIDE!r}))))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    count, loaded = [*result.stdout.splitlines(), ""][:2]
    assert int(count) >= 9, "the core's modules were not found"
    assert loaded == "", f"importing backend.collab.core loaded {loaded}"


BACKEND = ROOT / "backend"
# What notifications may take from collab: its signals (mentions reach it only that way) and
# the plumbing of live sockets it shares with documents' (close codes, limits, outbox, the
# database thread).
NOTIFICATIONS_FROM_COLLAB = (
    "backend.collab.signals",
    "backend.collab.core.close_codes",
    "backend.collab.edge.",
    "backend.collab.storage.db",
)
ROUTING = COLLAB / "edge" / "routing.py"  # the table of every socket, notifications' too


def _importing(package: str, prefix: str) -> list[tuple[Path, str]]:
    return [
        (path, name)
        for path in sorted((BACKEND / package).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(prefix)
    ]


def test_documents_imports_neither_collab_nor_notifications() -> None:
    wrong = _importing("documents", "backend.collab") + _importing(
        "documents", "backend.notifications"
    )
    assert not wrong, "documents knows nothing of collab or delivery:\n" + "\n".join(
        f"{path.relative_to(ROOT)}: {name}" for path, name in wrong
    )


def test_collab_reaches_notifications_only_through_signals() -> None:
    wrong = [(p, n) for p, n in _importing("collab", "backend.notifications") if p != ROUTING]
    assert not wrong, "collab sends signals; notifications listens:\n" + "\n".join(
        f"{path.relative_to(ROOT)}: {name}" for path, name in wrong
    )


def test_notifications_takes_from_collab_only_signals_and_socket_plumbing() -> None:
    wrong = [
        (path, name)
        for path, name in _importing("notifications", "backend.collab")
        if not name.startswith(NOTIFICATIONS_FROM_COLLAB)
    ]
    assert not wrong, "notifications imports collab's internals:\n" + "\n".join(
        f"{path.relative_to(ROOT)}: {name}" for path, name in wrong
    )


# What webhooks may take from the other apps: the update log's rows (document.changed is
# derived from them), and a notification for the owner of a webhook it disables.
WEBHOOKS_FROM_OTHERS = (
    "backend.collab.models",
    "backend.notifications.services",
    "backend.notifications.types",
)


def test_nothing_imports_webhooks_and_webhooks_takes_little() -> None:
    users = [
        (path, name)
        for package in ("documents", "collab", "notifications")
        for path, name in _importing(package, "backend.webhooks")
    ]
    assert not users, "webhooks listens; nobody calls it:\n" + "\n".join(
        f"{path.relative_to(ROOT)}: {name}" for path, name in users
    )
    wrong = [
        (path, name)
        for prefix in ("backend.collab", "backend.notifications")
        for path, name in _importing("webhooks", prefix)
        if not name.startswith(WEBHOOKS_FROM_OTHERS)
    ]
    assert not wrong, "webhooks imports other apps' internals:\n" + "\n".join(
        f"{path.relative_to(ROOT)}: {name}" for path, name in wrong
    )
