"""Publishing a run: its record and tables copied to bench/results/published/<name>.*, refused
when the figures would not be honest (issue 15, "Honesty of the figures")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from .config import DATABASE_URL, RESULTS, ROOT

PUBLISHED = RESULTS / "published"
# PostgreSQL settings without which a commit is not durable: a run with either off measures a
# server that may lose acknowledged updates, so it is never published.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit")


class PublishRefused(Exception):
    """The run must not be published; the message says why and what to do."""


def database_settings() -> dict[str, str]:
    """The bench database's durability settings as a session of Tandem sees them."""
    out: dict[str, str] = {}
    for name in DURABILITY_SETTINGS:
        out[name] = subprocess.run(
            ["psql", DATABASE_URL, "-Atc", f"show {name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return out


def backend_dirty() -> bool:
    """Whether backend/ has uncommitted changes (untracked files included)."""
    return bool(
        subprocess.run(
            ["git", "status", "--porcelain", "backend"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )


def backend_changed_since(commit: str) -> bool:
    """Whether HEAD's backend/ differs from ``commit``'s (True when the commit is unknown)."""
    if not commit:
        return True
    diff = subprocess.run(
        ["git", "diff", "--quiet", commit, "HEAD", "--", "backend"], cwd=ROOT, check=False
    )
    return diff.returncode != 0


def refusals(record: dict[str, Any], *, changed_since: bool) -> list[str]:
    """Every reason ``record`` must not be published (empty: it may be)."""
    reasons = []
    settings = record.get("database") or {}
    for name in DURABILITY_SETTINGS:
        value = settings.get(name)
        if value is None:
            reasons.append(f"the record has no {name} setting (a run from before it was recorded)")
        elif value == "off":
            reasons.append(
                f"PostgreSQL ran with {name} = off: commits were not durable; "
                f"set it on and run again"
            )
    if record.get("tandem_worktree_dirty", True):
        reasons.append(
            "backend/ had uncommitted changes when the run started: commit them and run again"
        )
    if record.get("tandem_worktree_dirty_at_end", False):
        reasons.append("backend/ had uncommitted changes when the run ended: commit and run again")
    if changed_since:
        reasons.append(
            f"backend/ at HEAD differs from the run's commit {record.get('tandem_commit')!r}: "
            "the figures would not be HEAD's; run again"
        )
    return reasons


def publish(source: Path, name: str, record: dict[str, Any]) -> list[Path]:
    """Copy ``source`` (a run's JSON) and its .md to published/<name>.*; raise PublishRefused
    when the run is not fit to publish. Returns the files written."""
    if not name or "/" in name or name.startswith("."):
        raise PublishRefused(f"{name!r} is not a plain file name (e.g. full-2026-12-02)")
    reasons = refusals(record, changed_since=backend_changed_since(record.get("tandem_commit", "")))
    if reasons:
        raise PublishRefused(f"not publishing {source}:\n" + "\n".join(f"- {r}" for r in reasons))
    PUBLISHED.mkdir(parents=True, exist_ok=True)
    written = []
    for src in (source, source.with_suffix(".md")):
        dest = PUBLISHED / f"{name}{src.suffix}"
        shutil.copyfile(src, dest)
        written.append(dest)
    return written
