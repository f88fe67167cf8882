"""What the bench prints and records: progress lines, medians and the ratios to the reference
servers, the run's record (bench/results/latest.json) and its markdown tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .config import NODE_BIN, ROOT
from .plan import Plan
from .procfs import PAGE
from .servers import Server


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def summarize_runs(runs: dict[str, list[dict[str, Any]]], servers: list[Server]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, results in runs.items():
        summary[name] = {
            "p50_ms": median([r["latency_ms"]["p50"] for r in results]),
            "p99_ms": median([r["latency_ms"]["p99"] for r in results]),
            "max_ms": median([r["latency_ms"]["max"] for r in results]),
            "lost": sum(r["lost"] for r in results),
            "sent": sum(r["sent"] for r in results),
            "server_cpu_s": median([r["server_cpu_s"] for r in results]),
            "db_cpu_s": median([r["db_cpu_s"] for r in results]),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
            "runs": len(results),
        }
    # Ratios inside each run (the same run index), then their median: p99 for the typical
    # delivery, max for issue 15's target 11 (largest delivery within 3 x y-websocket's).
    for name in runs:
        refs = ("y-websocket", "bare-relay", "bare-durable", "hocuspocus", "pycrdt-websocket")
        for ref in (*refs, "tandem"):
            # Tandem's own variants (replicas, experiments) against one process.
            if ref == "tandem" and not name.startswith("tandem-"):
                continue
            if ref in runs and name != ref:
                for stat in ("p99", "max"):
                    ratios = [
                        a["latency_ms"][stat] / b["latency_ms"][stat]
                        for a, b in zip(runs[name], runs[ref], strict=False)
                        if a["latency_ms"][stat] and b["latency_ms"][stat]
                    ]
                    summary[name][f"{stat}_vs_{ref}"] = median(list(ratios))
    return summary


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def describe_commit_probe(probe: dict[str, Any]) -> str:
    """``commit_probe``'s record as one line of the run's tables."""
    return (
        f"PostgreSQL alone, one-row commits every {probe['every_ms']:g} ms for "
        f"{probe['seconds']:g} s before the workloads: p50 {probe['p50_ms']:.2f}, "
        f"p99 {probe['p99_ms']:.2f}, p99.9 {probe['p999_ms']:.1f}, max {probe['max_ms']:.1f} ms; "
        f"{probe['stalls']} of {probe['commits']} over {probe['stall_ms']:g} ms"
    )


def first_failing(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first saturation step that failed and counted: a rate whose retry passed (load.mjs
    tries a failed rate twice on a shared machine) is not the server's limit."""
    passed = {s["rate"] for s in steps if s["ok"]}
    return next((s for s in steps if not s["ok"] and s["rate"] not in passed), None)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(data: dict[str, Any], servers: list[Server]) -> str:
    lines: list[str] = []
    if data.get("workload_seconds"):
        times = ", ".join(f"{k} {v:.0f}" for k, v in data["workload_seconds"].items())
        lines.append(f"Run time: {data.get('elapsed_s', 0):.0f} s in all; by workload (s): {times}")
    if data.get("commit_probe"):
        lines.append(describe_commit_probe(data["commit_probe"]))
    labels = {**data.get("servers", {}), **{s.name: s.label for s in servers}}
    w = data["workloads"]
    p = data["plan"]
    for key in FANOUT_KEYS:
        if key in w:
            lines.extend(report_fanout(w[key]["summary"], labels, fanout_title(key, p)))
            for name, error in w[key].get("errors", {}).items():
                lines.append(
                    f"| {labels.get(name, name)} | failed: {error.splitlines()[0][:160]} |"
                )
    if "audience" in w:
        lines.append(
            "\nAudience scaling: 1 writer at "
            f"{data['plan']['audience_rate']:g} updates/s; p99 ms / CPU us per delivered update"
        )
        sizes = data["plan"]["audience"]
        lines.append("| server | " + " | ".join(f"{n} readers" for n in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for name, rows in w["audience"].items():
            cells = [
                f"{fmt(rows[str(n)]['p99_ms'], 2)} / {fmt(rows[str(n)]['cpu_us_per_delivery'])}"
                + (f" (lost {rows[str(n)]['lost']})" if rows[str(n)]["lost"] else "")
                for n in sizes
            ]
            lines.append(f"| {labels[name]} | " + " | ".join(cells) + " |")
    if "saturation" in w:
        lines.append(
            "\nSaturation: highest total rate with p99 <= 100 ms and nothing lost "
            f"({data['plan']['saturation_docs']} docs x "
            f"{data['plan']['saturation_readers']} readers)"
        )
        lines.append("| server | updates/s accepted | deliveries/s sent | first failing step |")
        lines.append("|---|---|---|---|")
        for name, row in w["saturation"].items():
            f = first_failing(row["runs"][0]["steps"])
            why = "-"
            if f is not None:
                why = f"{f['rate']}/s: p99 {fmt(f['latency_ms']['p99'])} ms, lost {f['lost']}"
            at_least = ">= " if row.get("capped_by_load_generator") else ""
            lines.append(
                f"| {labels[name]} | {at_least}{fmt(row['max_ok_updates_per_s'], 0)} "
                f"| {fmt(row['max_ok_deliveries_per_s'], 0)} | {why} |"
            )
    if "idle" in w:
        lines.append(f"\nIdle connections: {data['plan']['idle_connections']} on one server")
        lines.append("| server | KiB RSS per connection | seconds to connect all | open at end |")
        lines.append("|---|---|---|---|")
        for name, row in w["idle"].items():
            lines.append(
                f"| {labels[name]} | {fmt(row['kib_per_connection'])} "
                f"| {fmt(row['connect_seconds'])} | {row['open_at_end']} |"
            )
    if "cold" in w:
        lines.append(
            "\nCold load (Tandem, 1 process): time from opening the socket to the full state"
        )
        lines.append("| history (updates) | load ms | bytes |")
        lines.append("|---|---|---|")
        for key, row in w["cold"].items():
            lines.append(f"| {key} | {fmt(row['load_ms'])} | {fmt(row['bytes'], 0)} |")
    if "catchup" in w:
        lines.append(f"\nReconnect catch-up after {data['plan']['catchup_updates']} missed updates")
        lines.append(
            "| server | catch-up ms | bytes received | converged | writer's updates relayed/s |"
        )
        lines.append("|---|---|---|---|---|")
        for key, row in w["catchup"].items():
            base, _, variant = key.partition(" ")
            if "error" in row:
                why = row["error"].splitlines()[0][:160]
                lines.append(f"| {labels.get(base, base)} | failed: {why} | | | |")
                continue
            lines.append(
                f"| {labels.get(base, base)} {variant} | {fmt(row['catchup_ms'])} "
                f"| {fmt(row['bytes'], 0)} | {row['converged']} | {fmt(row['accepted_per_s'], 0)} |"
            )
    if "capacity" in w:
        from .capacity import report_capacity  # capacity imports report

        lines.extend(report_capacity(w["capacity"]))
    if "bigroom" in w:
        lines.extend(report_bigroom(w["bigroom"], labels, p))
    if "bigdoc" in w:
        lines.extend(report_bigdoc(w["bigdoc"], labels, p))
    return "\n".join(lines)


# The fan-out tables, in the order they print; each workload's "summary" is summarize_runs'.
FANOUT_KEYS = ("fanout", "fanout_issue_scale", "fanout_editors")


def fanout_title(key: str, p: dict[str, Any]) -> str:
    if key == "fanout_editors":
        return (
            f"\nTyping fan-out with real editors: {p['fanout_editors_docs']} docs x "
            f"{p['fanout_editors_per_doc']} providers (awareness on, every cursor moving once a "
            f"second, 1 typing {p['bigroom_rate']:g} updates/s), "
            f"{p['fanout_editors_seconds']:g} s, median of {p['fanout_editors_runs']} run(s)"
        )
    docs, seconds, runs = {
        "fanout": (p["fanout_docs"], p["fanout_seconds"], p["runs"]),
        "fanout_issue_scale": (p["issue_fanout_docs"], p["issue_fanout_seconds"], 1),
    }[key]
    return (
        f"\nTyping fan-out: {docs} docs x ({p['fanout_readers']} readers + 1 writer), "
        f"{p['fanout_rate']:g} updates/s per writer, {seconds:g} s, median of {runs} run(s)"
    )


def report_fanout(summary: dict[str, Any], labels: dict[str, str], title: str) -> list[str]:
    lines = [
        title,
        "| server | p50 ms | p99 ms | max ms | lost | CPU s | DB CPU s | peak RSS MiB "
        "| p99 / y-websocket | max / y-websocket | p99 / bare relay | p99 / bare durable "
        "| p99 / Tandem 1 process |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        lines.append(
            f"| {labels.get(name, name)} | {fmt(row['p50_ms'], 2)} | {fmt(row['p99_ms'], 2)} "
            f"| {fmt(row['max_ms'])} | {row['lost']} | {fmt(row['server_cpu_s'], 2)} "
            f"| {fmt(row['db_cpu_s'], 2)} | {fmt(row['peak_rss_mib'])} "
            f"| {fmt(row.get('p99_vs_y-websocket'), 2)} "
            f"| {fmt(row.get('max_vs_y-websocket'), 2)} "
            f"| {fmt(row.get('p99_vs_bare-relay'), 2)} "
            f"| {fmt(row.get('p99_vs_bare-durable'), 2)} "
            f"| {fmt(row.get('p99_vs_tandem'), 2)} |"
        )
    return lines


def report_bigroom(rows: dict[str, Any], labels: dict[str, str], p: dict[str, Any]) -> list[str]:
    lines = [
        f"\nBig room: 1 document, real editors with awareness (cursors moving once a second), "
        f"1 writer at {p['bigroom_rate']:g} updates/s, {p['bigroom_seconds']:g} s; awareness "
        "frames (entries) per second counted at the clients",
        "| server | editors | p50 ms | p99 ms | lost | server cores | client cores "
        "| awareness in /s | awareness out /s | closes | connect s | CPU wait |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in rows.items():
        name, _, size = key.rpartition(" ")
        label = labels.get(name, name)
        if "error" in row:
            why = row["error"].splitlines()[0][:160]
            lines.append(f"| {label} | {size} | failed: {why} | | | | | | | | | |")
            continue
        lat = row["latency_ms"]
        received = (
            f"{row['server_received_awareness_frames_per_s']:.0f} "
            f"({row['server_received_awareness_entries_per_s']:.0f})"
        )
        sent = (
            f"{row['server_sent_awareness_frames_per_s']:.0f} "
            f"({row['server_sent_awareness_entries_per_s']:.0f})"
        )
        lines.append(
            f"| {label} | {size} | {fmt(lat['p50'], 2)} | {fmt(lat['p99'], 2)} "
            f"| {row['lost']} | {fmt(row['server_cores'], 2)} | {fmt(row['client_cores'], 2)} "
            f"| {received} | {sent} | {row['closes_during_window']} "
            f"| {fmt(row['connect_seconds'])} | {row.get('cpu_pressure_some', 0):.0%} |"
        )
    return lines


def report_bigdoc(rows: dict[str, Any], labels: dict[str, str], p: dict[str, Any]) -> list[str]:
    lines = [
        f"\nBig document: {p['bigdoc_size']:,} characters pasted in one message; a fresh "
        f"editor's first sync, median of {p['bigdoc_runs']}",
        "| server | paste delivered ms | first sync ms (loaded) | first sync ms (cold) "
        "| peak RSS MiB | CPU wait |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        label = labels.get(name, name)
        if "error" in row:
            lines.append(f"| {label} | failed: {row['error'].splitlines()[0][:160]} | | | | |")
            continue
        lines.append(
            f"| {label} | {fmt(row['paste_delivered_ms'], 0)} | {fmt(row['warm_ms'], 0)} "
            f"| {fmt(row['cold_ms'], 0)} | {fmt(row['peak_rss_mib'], 0)} "
            f"| {row.get('cpu_pressure_some', 0):.0%} |"
        )
    return lines


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
        "python": platform.python_version(),
        "node": subprocess.run(
            [NODE_BIN, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "loadavg_at_start": load,
    }


def run_record(*, quick: bool, plan: Plan, servers: list[Server]) -> dict[str, Any]:
    """The run's JSON record before any workload: when, what, on which machine and commit."""
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "quick": quick,
        "machine": machine(),
        "tandem_commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "tandem_worktree_dirty": bool(
            subprocess.run(
                ["git", "status", "--porcelain", "backend"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout.strip()
        ),
        "plan": plan.__dict__,
        "servers": {s.name: s.label for s in servers},
        "clients": "light protocol-level clients in one Node process (load.mjs) that count and "
        "time frames; writers are real Y.Docs; catch-up uses a full Y.Doc client; "
        "fanout_editors, bigroom and bigdoc use real editors (providers.mjs: y-websocket 3.1's "
        "WebsocketProvider, @hocuspocus/provider 3.4.4 for Hocuspocus), awareness on",
        "workloads": {},
    }


def write_results(data: dict[str, Any], servers: list[Server], out: Path) -> None:
    """Write the record to ``out`` and its tables next to it (``.md``); print the tables."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    table = report(data, servers)
    (out.with_suffix(".md")).write_text(table + "\n")
    print(table)
    log(f"wrote {out} ({data['elapsed_s']:.0f} s)")
