"""The bench's tables and plan (bench/harness/report.py, plan.py): what they show, no server."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name: str) -> ModuleType:
    """A bench/harness module, found the way ``python bench/run.py`` finds it."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(f"harness.{name}")
    finally:
        sys.path.remove(str(BENCH))


def step(rate: int, *, ok: bool, p99: float, lost: int = 0) -> dict[str, Any]:
    return {"rate": rate, "ok": ok, "lost": lost, "latency_ms": {"p99": p99}}


def test_first_failing_step_is_the_first_that_failed_not_the_last() -> None:
    report = bench_module("report")
    steps = [
        step(100, ok=True, p99=5),
        step(200, ok=False, p99=150),  # retried below and passed: not the limit
        step(200, ok=True, p99=40),
        step(400, ok=False, p99=180),
        step(400, ok=False, p99=900, lost=12),
    ]
    assert report.first_failing(steps) == steps[3]
    assert report.first_failing(steps[:3]) is None


def test_saturation_table_names_the_first_failing_step() -> None:
    report = bench_module("report")
    steps = [step(100, ok=True, p99=5), step(400, ok=False, p99=180), step(400, ok=False, p99=900)]
    data = {
        "servers": {"tandem": "Tandem (1 process)"},
        "plan": {"saturation_docs": 10, "saturation_readers": 4},
        "workloads": {
            "saturation": {
                "tandem": {
                    "max_ok_updates_per_s": 100.0,
                    "max_ok_deliveries_per_s": 400.0,
                    "runs": [{"steps": steps}],
                }
            }
        },
    }
    table = report.report(data, [])
    assert "| Tandem (1 process) | 100 | 400 | 400/s: p99 180.0 ms, lost 0 |" in table
