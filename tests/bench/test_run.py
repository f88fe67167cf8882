"""bench/run.py's choice of workloads: what ``--workloads`` selects, what a full run runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_run() -> ModuleType:
    """bench/run.py, imported as ``python bench/run.py`` finds its harness."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCH))


def test_workloads_select_a_family_or_one_fan_out() -> None:
    run = bench_run()
    assert run.selected_workload("fanout_editors", ["fanout"])
    assert run.selected_workload("fanout_issue_scale", ["fanout"])
    assert run.selected_workload("fanout_editors", ["fanout-editors"])
    assert not run.selected_workload("fanout", ["fanout-editors"])
    assert not run.selected_workload("fanout_issue_scale", ["fanout-editors"])


def test_a_full_run_has_the_real_editors_fan_out_but_not_the_capacity_check() -> None:
    run = bench_run()
    plan = importlib.import_module("harness.plan")
    keys = [key for key, _ in run.schedule([], plan.FULL, 10)]
    full = [key for key in keys if run.selected_workload(key, run.ALL_WORKLOADS)]
    assert "fanout_editors" in full
    assert "fanout_issue_scale" in full
    assert "capacity" in keys
    assert "capacity" not in full
    assert "profile" not in full


def test_an_unknown_server_name_is_refused_with_the_names_to_choose_from() -> None:
    bench_run()  # puts the harness where ``python bench/run.py`` finds it
    servers = importlib.import_module("harness.servers")
    chosen = servers.make_servers({"tandem", "bare-relay", "tandem-cursor"})
    assert [s.name for s in chosen] == ["tandem", "bare-relay", "tandem-cursor"]
    with pytest.raises(SystemExit, match=r"unknown server\(s\) bare in --servers") as refused:
        servers.make_servers({"tandem", "bare"})
    assert "bare-relay" in str(refused.value)
