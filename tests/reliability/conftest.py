"""Fixtures of the reliability scenarios (beside the scene of tests/support/scene.py): private
Redis and PostgreSQL servers to break, and the figures table printed at the end of the run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import harness

# Under CHAOS each scenario runs at its large size (harness.size): ten times as long to fail.
CHAOS_TIMEOUT_FACTOR = harness.size(1, 10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Scale the per-test timeout (pytest-timeout's) of this directory's scenarios."""
    if CHAOS_TIMEOUT_FACTOR == 1:
        return
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:
            continue
        marker = item.get_closest_marker("timeout")
        seconds = (
            float(marker.args[0]) if marker and marker.args else float(config.getini("timeout"))
        )
        item.add_marker(pytest.mark.timeout(seconds * CHAOS_TIMEOUT_FACTOR), append=False)


JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


@pytest.fixture(autouse=True)
def _no_token_in_any_log(tmp_path: Path) -> Iterator[None]:
    """After every scenario: no JWT appears in any log file its servers wrote."""
    yield
    for log in tmp_path.rglob("*.log"):
        found = JWT.search(log.read_text(errors="replace"))
        assert found is None, f"a token appears in {log}: {found.group(0)[:20]}..."


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if harness.RESULTS:
        terminalreporter.section(f"reliability figures ({harness.MODE})")
        terminalreporter.write_line(harness.table(harness.RESULTS))
