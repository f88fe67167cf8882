"""The bench's tables and plan (bench/harness/report.py, plan.py): what they show, no server."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

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


def fanout_run(p50: float, p99: float, top: float) -> dict[str, Any]:
    return {
        "latency_ms": {"p50": p50, "p99": p99, "max": top},
        "lost": 0,
        "sent": 100,
        "server_cpu_s": 1.0,
        "db_cpu_s": None,
        "peak_rss_mib": 50.0,
    }


def test_fanout_reports_max_latency_against_y_websockets() -> None:
    report = bench_module("report")
    runs = {
        "tandem": [fanout_run(2, 10, 90), fanout_run(2, 12, 60)],
        "y-websocket": [fanout_run(1, 2, 30), fanout_run(1, 3, 30)],
    }
    summary = report.summarize_runs(runs, [])
    # Ratios per run (90/30, 60/30), then the median.
    assert summary["tandem"]["max_vs_y-websocket"] == 2.5
    assert summary["tandem"]["p99_vs_y-websocket"] == 4.5
    assert "max_vs_y-websocket" not in summary["y-websocket"]

    table = "\n".join(report.report_fanout(summary, {"tandem": "Tandem"}, "title"))
    assert "| max / y-websocket |" in table
    assert "| Tandem | 2.00 | 11.00 | 75.0 | 0 | 1.00 | - | 50.0 | 4.50 | 2.50 | - | - |" in table


def test_issue_scale_fan_out_runs_30_s_on_every_server_replicas_too() -> None:
    plan = bench_module("plan")
    assert (plan.FULL.issue_fanout_docs, plan.FULL.issue_fanout_seconds) == (100, 30)
    assert (plan.FULL.fanout_readers + 1, plan.FULL.fanout_rate) == (10, 10)
    report = bench_module("report")
    runs = {
        "tandem": [fanout_run(2, 10, 90)],
        "tandem-2r": [fanout_run(3, 14, 99)],
        "y-websocket": [fanout_run(1, 2, 30)],
    }
    summary = report.summarize_runs(runs, [])
    assert summary["tandem-2r"]["p99_vs_tandem"] == 1.4
    assert "p99_vs_tandem" not in summary["tandem"]
    assert "p99_vs_tandem" not in summary["y-websocket"]


def clean_record() -> dict[str, Any]:
    return {
        "tandem_commit": "abc",
        "tandem_worktree_dirty": False,
        "tandem_worktree_dirty_at_end": False,
        "database": {"fsync": "on", "synchronous_commit": "on"},
    }


def test_publish_accepts_a_durable_run_of_committed_code() -> None:
    publish = bench_module("publish")
    assert publish.refusals(clean_record(), changed_since=False) == []


def test_publish_refuses_a_run_without_durable_commits_or_committed_code() -> None:
    publish = bench_module("publish")
    for setting in ("fsync", "synchronous_commit"):
        record = clean_record()
        record["database"][setting] = "off"
        [reason] = publish.refusals(record, changed_since=False)
        assert f"{setting} = off" in reason
    record = clean_record()
    del record["database"]
    assert len(publish.refusals(record, changed_since=False)) == 2
    for flag in ("tandem_worktree_dirty", "tandem_worktree_dirty_at_end"):
        record = clean_record()
        record[flag] = True
        [reason] = publish.refusals(record, changed_since=False)
        assert "uncommitted changes" in reason
    [reason] = publish.refusals(clean_record(), changed_since=True)
    assert "differs from the run's commit 'abc'" in reason


def test_publish_refuses_before_copying_anything(tmp_path: Path) -> None:
    publish = bench_module("publish")
    source = tmp_path / "latest.json"
    source.write_text("{}")
    source.with_suffix(".md").write_text("")
    record = clean_record()
    record["database"]["fsync"] = "off"
    before = sorted(publish.PUBLISHED.iterdir())
    with pytest.raises(publish.PublishRefused, match="fsync = off"):
        publish.publish(source, "refused-run", record)
    assert sorted(publish.PUBLISHED.iterdir()) == before


def providers_result(
    *, sent: dict[str, int], readers: dict[str, int], markers: list[list[int]], received: int
) -> dict[str, Any]:
    """One providers.mjs big-room result, as harness.editors reads it."""
    return {
        "sent": sum(sent.values()),
        "sent_by_doc": sent,
        "readers": sum(readers.values()),
        "readers_by_doc": readers,
        "received": received,
        "markers_in_docs": markers,
        "latency_ms": [1.0, 2.0, 40.0],
        "window_s": 10.0,
        "frames_sent": {"awareness": 100, "sync": 50},
        "frames_received": {"awareness": 900},
        "awareness_entries_sent": 100,
        "awareness_entries_received": 900,
        "bytes_received": 2**20,
        "event_loop_delay_ms": {"p99": 5.0, "max": 9.0},
        "closes_during_window": 0,
        "close_codes": [],
    }


def test_editors_fan_out_expects_each_rooms_updates_at_each_of_its_readers() -> None:
    editors = bench_module("editors")
    # Two rooms; process 0 holds both writers and 1 reader of each, process 1 two readers each.
    results = [
        providers_result(
            sent={"0": 100, "1": 99},
            readers={"0": 1, "1": 1},
            markers=[[0, 100], [1, 99]],
            received=199,
        ),
        providers_result(
            sent={},
            readers={"0": 2, "1": 2},
            markers=[[0, 100], [0, 100], [1, 99], [1, 98]],
            received=396,
        ),
    ]
    measured = {"server_cpu_s": 2.0, "client_cpu_s": 4.0, "window_s": 10.0}
    row = editors.bigroom_summary(results, measured)
    assert (row["sent"], row["readers"], row["expected"]) == (199, 6, 3 * 100 + 3 * 99)
    assert (row["received"], row["lost"], row["converged_readers"]) == (595, 2, 5)
    assert row["latency_ms"]["max"] == 40.0


def test_editors_fan_out_prints_in_the_fan_out_tables_shape() -> None:
    report = bench_module("report")
    plan = bench_module("plan")
    summary = report.summarize_runs(
        {"tandem": [fanout_run(3, 30, 90)], "y-websocket": [fanout_run(1, 10, 30)]}, []
    )
    data = {
        "servers": {"tandem": "Tandem (1 process)", "y-websocket": "y-websocket 1.5.4"},
        "plan": plan.FULL.__dict__,
        "workloads": {
            "fanout_editors": {"summary": summary, "errors": {"hocuspocus": "timed out\nmore"}}
        },
    }
    table = report.report(data, [])
    assert "Typing fan-out with real editors: 10 docs x 10 providers" in table
    assert "| Tandem (1 process) | 3.00 | 30.00 | 90.0 | 0 |" in table
    assert "| 3.00 | 3.00 | - | - |" in table  # p99 and max / y-websocket
    assert "| hocuspocus | failed: timed out |" in table


def counters(t: float, redis: dict[str, int], **values: float) -> dict[str, Any]:
    base = {"xact_commit": 0, "rows": 0, "updates": 0, "cross_replica": 0, "commit_groups": 0}
    return {"t": t, "redis": redis, "cpu_s": 0.0, **base, **values}


def test_capacity_costs_are_per_committed_update() -> None:
    capacity = bench_module("capacity")
    before = counters(10.0, {"evalsha": 100, "info": 3, "bzpopmin": 50})
    after = counters(
        30.0,
        {"evalsha": 500, "info": 4, "bzpopmin": 90, "publish": 20},
        updates=200,
        xact_commit=400,
        rows=200,
        cross_replica=600,
        commit_groups=150,
        cpu_s=0.5,
    )
    costs = capacity.per_update(before, after)
    assert costs["redis_commands_per_update_by_command"] == {
        "bzpopmin": 0.2,
        "evalsha": 2.0,
        "publish": 0.1,
    }  # the harness's own INFO is not the replicas'
    assert costs["redis_commands_per_update"] == pytest.approx(2.3)
    assert costs["cross_replica_messages_per_update"] == 3.0
    assert (costs["pg_commits_per_s"], costs["pg_commits_per_update"]) == (20.0, 2.0)
    assert (costs["rows_per_update"], costs["commit_groups_per_update"]) == (1.0, 0.75)
    assert costs["server_cpu_us_per_update"] == 2500.0

    rows = {
        "replicas": 4,
        "load": {"docs": 8, "clients_per_doc": 5, "updates_per_s_per_doc": 2, "seconds": 20},
        "round-robin": {**costs, "load": {"latency_ms": {"p99": 12.3}, "lost": 0}},
    }
    rows["idle"] = {
        "redis_commands_per_s": 4.5,
        "redis_commands_per_s_by_command": {"bzpopmin": 0.5, "zadd": 4.0},
        "server_cores": 0.0123,
    }
    table = "\n".join(capacity.report_capacity(rows))
    assert "cost 4.5 Redis commands/s (zadd 4.0, bzpopmin 0.5) and 0.012 cores" in table
    assert "| round-robin | 200 | 2.30 | 3.00 | 20.0 | 2.00 | 1.00 | 2500 | 12.3 | 0 |" in table
    assert "evalsha 2.00, bzpopmin 0.20, publish 0.10 |" in table


def test_capacity_affinity_puts_a_document_on_one_stable_replica() -> None:
    capacity = bench_module("capacity")
    docs = [f"00000000-0000-0000-0000-{i:012d}" for i in range(40)]
    placement = capacity.affinity(docs, 4)
    assert placement == capacity.affinity(docs, 4)
    assert set(placement) == {0, 1, 2, 3}


def test_tables_start_with_what_each_workload_cost_the_run() -> None:
    report = bench_module("report")
    data = {
        "plan": {},
        "workloads": {},
        "elapsed_s": 1234.4,
        "workload_seconds": {"idle": 120.2, "fanout_editors": 95.0},
    }
    first = report.report(data, []).splitlines()[0]
    assert first == "Run time: 1234 s in all; by workload (s): idle 120, fanout_editors 95"
