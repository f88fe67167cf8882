"""The workloads bench/load.mjs drives: idle, cold load, fan-out, audience, saturation,
catch-up, and the profiled fan-out."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from profile_summary import summarize

from .config import BENCH, RESULTS
from .history import drop_snapshots, history_document
from .load import docs_for, run_load, settle
from .plan import Plan
from .procfs import rss_bytes
from .report import log, median, summarize_runs
from .servers import Server


def workload_idle(servers: list[Server], plan: Plan) -> dict[str, Any]:
    """Idle connections on fresh processes: RSS per connection, time to connect."""
    out: dict[str, Any] = {}
    for server in servers:
        if len(server.commands) > 1:
            continue  # "held by one process": the replicas' figure adds nothing
        docs = docs_for(server, plan.idle_docs, "idle")
        before = sum(rss_bytes(p) for p in server.pids)
        sampled: dict[str, float] = {}

        def on_event(
            event: dict[str, Any], server: Server = server, sampled: dict[str, float] = sampled
        ) -> None:
            if event["event"] == "connected":
                time.sleep(0.5)
                sampled["rss"] = sum(rss_bytes(p) for p in server.pids)

        result = run_load(
            server,
            {"workload": "idle", "docs": docs, "connections": plan.idle_connections, "hold": 3},
            timeout=900,
            on_event=on_event,
        )
        after = sampled.get("rss", 0.0)
        result["rss_before_mib"] = before / 2**20
        result["rss_after_mib"] = after / 2**20
        result["kib_per_connection"] = (after - before) / 1024 / plan.idle_connections
        out[server.name] = result
        log(
            f"idle {server.name}: {result['kib_per_connection']:.1f} KiB/conn, "
            f"{result['connect_seconds']:.1f} s to connect {plan.idle_connections}"
        )
        time.sleep(2)
    return out


def workload_fanout(
    servers: list[Server], plan: Plan, *, docs_count: int, seconds: float, runs_count: int
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    for run in range(runs_count):
        for server in servers:
            docs = docs_for(server, docs_count, "fanout")
            result = run_load(
                server,
                {
                    "workload": "fanout",
                    "docs": docs,
                    "readers": plan.fanout_readers,
                    "rate": plan.fanout_rate,
                    "seconds": seconds,
                },
            )
            runs[server.name].append(result)
            lat = result["latency_ms"]
            log(
                f"fanout {docs_count} docs run {run + 1} {server.name}: p50 {lat['p50']:.2f} "
                f"p99 {lat['p99']:.2f} max {lat['max']:.1f} ms, lost {result['lost']}, "
                f"cpu {result['server_cpu_s']:.2f} s"
            )
            time.sleep(0.5)
    return {"runs": runs, "summary": summarize_runs(runs, servers)}


def workload_audience(servers: list[Server], plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {s.name: {} for s in servers}
    for readers in plan.audience:
        for server in servers:
            results = []
            for _ in range(plan.audience_runs):
                [doc] = docs_for(server, 1, f"audience{readers}")
                result = run_load(
                    server,
                    {
                        "workload": "fanout",
                        "docs": [doc],
                        "readers": readers,
                        "rate": plan.audience_rate,
                        "seconds": plan.audience_seconds,
                    },
                    timeout=600,
                )
                results.append(result)
                time.sleep(0.5)
            cpu = median([r["server_cpu_s"] for r in results]) or 0.0
            delivered = median([r["received"] for r in results]) or 1
            sent = median([r["sent"] for r in results]) or 1
            out[server.name][str(readers)] = {
                "p50_ms": median([r["latency_ms"]["p50"] for r in results]),
                "p99_ms": median([r["latency_ms"]["p99"] for r in results]),
                "lost": sum(r["lost"] for r in results),
                "server_cpu_s": cpu,
                "db_cpu_s": median([r["db_cpu_s"] for r in results]),
                "cpu_us_per_delivery": cpu / delivered * 1e6,
                "cpu_us_per_update": cpu / sent * 1e6,
                "runs": results,
            }
            row = out[server.name][str(readers)]
            log(
                f"audience {readers} {server.name}: p99 {row['p99_ms']:.2f} ms, "
                f"{row['cpu_us_per_delivery']:.1f} us CPU/delivery, lost {row['lost']}"
            )
    return out


def workload_saturation(servers: list[Server], plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for server in servers:
        results = []
        for _ in range(plan.saturation_runs):
            docs = docs_for(server, plan.saturation_docs, "saturation")
            result = run_load(
                server,
                {
                    "workload": "saturate",
                    "docs": docs,
                    "readers": plan.saturation_readers,
                    "rates": plan.saturation_rates,
                    "seconds": plan.saturation_seconds,
                },
                timeout=600,
            )
            for step, window in zip(result["steps"], result["windows"], strict=False):
                step["server_cpu_s"] = window["cpu_s"]
                step["db_cpu_s"] = window["db_cpu_s"] if server.durable else None
            results.append(result)
            time.sleep(2)
        out[server.name] = {
            "capped_by_load_generator": all(
                r["max_ok_rate"] == max(plan.saturation_rates) for r in results
            ),
            "max_ok_updates_per_s": median([r["max_ok_sent_per_s"] for r in results]),
            "max_ok_deliveries_per_s": median([r["max_ok_deliveries_per_s"] for r in results]),
            "runs": results,
        }
        log(
            f"saturation {server.name}: {out[server.name]['max_ok_updates_per_s']:.0f} updates/s "
            f"({out[server.name]['max_ok_deliveries_per_s']:.0f} deliveries/s)"
        )
    return out


def workload_catchup(servers: list[Server], plan: Plan) -> dict[str, Any]:
    """A client away for N updates comes back: bytes and time until its Doc equals the
    writer's. One write phase per server; ``runs`` away clients per variant (Tandem also
    replays from a sequence number with its ``hello`` extension)."""
    out: dict[str, Any] = {}
    for server in servers:
        if not server.catchup or (len(server.commands) > 1 and not plan.catchup_replicas):
            continue  # ~100 s at Tandem's ~100 updates/s; the quick pass covers the replicas
        [doc] = docs_for(server, 1, "catchup")
        modes = [False, True] if server.style == "tandem" else [False]
        try:
            result = run_load(
                server,
                {
                    "workload": "catchup",
                    "doc": doc,
                    "updates": plan.catchup_updates,
                    "rate": plan.catchup_rate,
                    "clients": plan.runs,
                    "helloModes": modes,
                },
                timeout=900,
            )
        except RuntimeError as exc:  # one server's failure must not hide the others' figures
            log(f"catch-up {server.name} failed: {exc}")
            out[server.name] = {"error": str(exc)}
            settle(server)
            continue
        for hello in modes:
            key = f"{server.name} (hello replay)" if hello else server.name
            rows = [c for c in result["clients"] if c["hello"] == hello]
            out[key] = {
                "catchup_ms": median([c["catchup_ms"] for c in rows]),
                "bytes": median([c["bytes"] for c in rows]),
                "converged": all(c["converged"] for c in rows),
                "write_seconds": result["write_seconds"],
                "accepted_per_s": result["accepted_per_s"],
                "runs": rows,
            }
            log(
                f"catch-up {key}: {out[key]['catchup_ms']:.1f} ms, {out[key]['bytes']:.0f} bytes "
                f"(the {plan.catchup_updates} updates took {result['write_seconds']:.1f} s "
                "to relay)"
            )
    return out


def workload_profile(server: Server, plan: Plan, docs_count: int, seconds: float) -> dict[str, Any]:
    """py-spy on the server's process(es) during a typing fan-out window (not in the table:
    sampling costs the server CPU). Writes bench/results/profile-<server>.txt (collapsed
    stacks) and returns the summary of bench/profile_summary.py."""
    pyspy = BENCH / ".venv" / "bin" / "py-spy"
    raw = RESULTS / f"profile-{server.name}.txt"
    spies: list[subprocess.Popen[bytes]] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "start":
            for pid in server.pids[:1]:
                spies.append(
                    subprocess.Popen(
                        [
                            str(pyspy),
                            "record",
                            "--nonblocking",
                            "--rate",
                            "200",
                            "--duration",
                            str(int(seconds)),
                            "--format",
                            "raw",
                            "--output",
                            str(raw),
                            "--pid",
                            str(pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

    docs = docs_for(server, docs_count, "profile")
    result = run_load(
        server,
        {
            "workload": "fanout",
            "docs": docs,
            "readers": plan.fanout_readers,
            "rate": plan.fanout_rate,
            "seconds": seconds,
        },
        on_event=on_event,
    )
    for spy in spies:
        spy.wait(timeout=60)
    summary = summarize(raw, 30)
    (RESULTS / f"profile-{server.name}.summary.txt").write_text(summary + "\n")
    log(
        f"profile of {server.name} ({docs_count} docs): p99 {result['latency_ms']['p99']:.1f} ms, "
        f"lost {result['lost']}; summary in {RESULTS / f'profile-{server.name}.summary.txt'}"
    )
    return {"fanout": result, "docs": docs_count, "seconds": seconds, "summary": summary}


def workload_cold(server: Server, plan: Plan) -> dict[str, Any]:
    """Tandem only: the reference servers keep nothing on disk, so they have no cold load."""
    out: dict[str, Any] = {}
    cases = [(n, True) for n in plan.cold_sizes] + [(n, False) for n in plan.cold_nosnap_sizes]
    for updates, snapshot in cases:
        t0 = time.monotonic()
        doc = history_document(updates, snapshot=snapshot)
        made = time.monotonic() - t0
        results = []
        for _ in range(plan.runs):
            time.sleep(2.5)  # ROOM_IDLE_SECONDS=1: the room from the last run is gone
            if not snapshot:  # it stored one when it unloaded (after the last run's drop)
                drop_snapshots(doc)
            results.append(run_load(server, {"workload": "cold", "doc": doc}, timeout=600))
        key = f"{updates}{'' if snapshot else ' (no snapshot)'}"
        out[key] = {
            "load_ms": median([r["load_ms"] for r in results]),
            "bytes": median([r["bytes"] for r in results]),
            "history_setup_s": made,
            "runs": results,
        }
        log(f"cold load {key}: {out[key]['load_ms']:.1f} ms ({out[key]['bytes']:.0f} bytes)")
    return out
