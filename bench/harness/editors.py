"""The workloads with real editors (bench/providers.mjs): the big room and the big document."""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import threading
import time
from typing import Any

from .config import NODE_BIN, ROOT
from .load import docs_for, settle
from .plan import Plan
from .procfs import DatabaseCpu, Sampler, cpu_of, cpu_pressure
from .report import fmt, log, median, percentile, summarize_runs
from .servers import CRASHES, TOKENS, Server, tandem_bytes, tandem_metric

BIG_SERVERS = {"tandem", "tandem-2r", "y-websocket", "hocuspocus"}
FLOORS = {"bare-relay", "bare-durable", "bare-durable-2r"}
"""The fan-out with editors and the big room up to ``FLOORS_BIGROOM_MAX`` editors also run on
the floors: whether targets 9 and 10 are out of any durable relay's reach is read there. The
big document compares with the servers users run."""
FLOORS_BIGROOM_MAX = 100


class Providers:
    """One bench/providers.mjs process: its JSON events in a queue, commands on its stdin."""

    def __init__(self, server: Server, config: dict[str, Any], base: str) -> None:
        config = {**config, "style": server.style, "base": base}
        if server.style == "tandem":
            config["token"] = TOKENS[server.name]
        self.proc = subprocess.Popen(
            [NODE_BIN, "bench/providers.mjs", json.dumps(config)],
            cwd=ROOT,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "exit"})

    def next(self, want: str, timeout: float) -> dict[str, Any]:
        """The next event named ``want``; raises on an error, an exit or the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"no {want!r} from providers.mjs in {timeout:.0f} s") from None
            if event["event"] == want:
                return event
            if event["event"] in ("error", "exit"):
                exited = event["event"] == "exit" and self.proc.stderr is not None
                stderr = self.proc.stderr.read() if exited and self.proc.stderr else ""
                message = event.get("message", "exited")
                raise RuntimeError(f"providers.mjs: {message} {stderr[-2000:]}")

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def bigroom_run(
    server: Server,
    plan: Plan,
    size: int,
    processes: int,
    *,
    docs_count: int = 1,
    seconds: float | None = None,
) -> dict[str, Any]:
    """``size`` real editors in each of ``docs_count`` documents over ``processes`` load
    processes (process k holds the same slice of every room's editors, on replica k): the
    writers' delivery latency and losses, server and client CPU, frames by type counted at
    the clients. ``seconds`` is the typing window (default: the big room's)."""
    if server.ensure_running():
        CRASHES.setdefault(server.name, []).append("bigroom")
    seconds = plan.bigroom_seconds if seconds is None else seconds
    docs = docs_for(server, docs_count, f"bigroom{size}")
    cuts = [size * k // processes for k in range(processes + 1)]
    procs: list[Providers] = []
    measured: dict[str, Any] = {}
    try:
        for k in range(processes):
            config = {
                "workload": "bigroom",
                "docs": docs,
                "from": cuts[k],
                "to": cuts[k + 1],
                "rate": plan.bigroom_rate,
            }
            procs.append(Providers(server, config, server.bases[k % len(server.bases)]))
        synced = [p.next("synced", 300) for p in procs]
        clients = [p.proc.pid for p in procs]
        with Sampler(server.pids) as sampler:
            for p in procs:
                p.command(f"start {plan.bigroom_warmup} {seconds} {plan.bigroom_drain}")
            time.sleep(plan.bigroom_warmup)
            database = DatabaseCpu(server.durable)
            database.start()
            t0 = time.monotonic()
            cpu0, client0 = cpu_of(server.pids), cpu_of(clients)
            pressure0, load0 = cpu_pressure(), os.getloadavg()[0]
            bytes0 = tandem_bytes(server)
            time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
            window = time.monotonic() - t0
            measured = {
                "server_cpu_s": cpu_of(server.pids) - cpu0,
                "client_cpu_s": cpu_of(clients) - client0,
                "db_cpu_s": database.stop(),
                "window_s": window,
                # Share of the window in which some task waited for a CPU (other sessions'
                # processes included), and the 1-minute load average at its start and end.
                "cpu_pressure_some": (cpu_pressure() - pressure0) / window,
                "loadavg_1min": [load0, os.getloadavg()[0]],
            }
            bytes1 = tandem_bytes(server)
            if bytes0 is not None and bytes1 is not None:
                measured["tandem_metrics_mib_per_s"] = {
                    "received": (bytes1[0] - bytes0[0]) / window / 2**20,
                    "sent": (bytes1[1] - bytes0[1]) / window / 2**20,
                }
            timeout = seconds + plan.bigroom_drain + 300
            results = [p.next("result", timeout) for p in procs]
    finally:
        for p in procs:
            p.stop()
    out = bigroom_summary(results, measured)
    out.update(
        {
            "providers": size,
            "docs": docs_count,
            "load_processes": processes,
            "connect_seconds": max(s["seconds"] for s in synced),
            "all_synced": all(s["all"] for s in synced),
            "peak_rss_mib": sampler.peak / 2**20,
            "settle_s": settle(server),
            "processes": results,
        }
    )
    return out


def bigroom_summary(results: list[dict[str, Any]], measured: dict[str, Any]) -> dict[str, Any]:
    """One big-room run from its load processes' results and the server's CPU window."""
    sent = sum(r["sent"] for r in results)
    readers = sum(r["readers"] for r in results)
    # Per room (keys are room indexes): its writer's updates, its readers over all processes.
    sent_by_doc: dict[str, int] = {}
    readers_by_doc: dict[str, int] = {}
    for r in results:
        for k, n in r["sent_by_doc"].items():
            sent_by_doc[k] = sent_by_doc.get(k, 0) + n
        for k, n in r["readers_by_doc"].items():
            readers_by_doc[k] = readers_by_doc.get(k, 0) + n
    expected = sum(sent_by_doc.get(k, 0) * n for k, n in readers_by_doc.items())
    lat = [v for r in results for v in r.pop("latency_ms")]
    received = sum(r["received"] for r in results)
    seconds: float = statistics.mean(r["window_s"] for r in results)

    def per_s(key: str, kind: str | None = None) -> float:
        """Summed over the processes, per second; ``kind`` picks a message type."""
        values = [r[key] if kind is None else r[key].get(kind, 0) for r in results]
        total: float = sum(sum(v.values()) if isinstance(v, dict) else v for v in values)
        return total / seconds

    window = measured["window_s"]
    return {
        "writer_updates": sent,
        "sent": sent,
        "readers": readers,
        "expected": expected,
        "received": received,
        "lost": max(0, expected - received),
        "converged_readers": sum(
            1 for r in results for k, m in r["markers_in_docs"] if m == sent_by_doc.get(str(k))
        ),
        "latency_ms": {
            "p50": percentile(lat, 0.5),
            "p99": percentile(lat, 0.99),
            "max": max(lat) if lat else None,
        },
        # Counted at the clients: what the providers sent is what the server received.
        "server_received_awareness_frames_per_s": per_s("frames_sent", "awareness"),
        "server_sent_awareness_frames_per_s": per_s("frames_received", "awareness"),
        "server_received_awareness_entries_per_s": per_s("awareness_entries_sent"),
        "server_sent_awareness_entries_per_s": per_s("awareness_entries_received"),
        "server_received_frames_per_s": per_s("frames_sent"),
        "server_sent_frames_per_s": per_s("frames_received"),
        "server_sent_mib_per_s": per_s("bytes_received") / 2**20,
        **measured,
        "server_cores": measured["server_cpu_s"] / window,
        "client_cores": measured["client_cpu_s"] / window,
        "client_event_loop_delay_p99_ms": max(r["event_loop_delay_ms"]["p99"] for r in results),
        "client_event_loop_delay_max_ms": max(r["event_loop_delay_ms"]["max"] for r in results),
        "closes_during_window": sum(r["closes_during_window"] for r in results),
        "close_codes": sorted({c for r in results for c in r["close_codes"]}),
    }


def workload_bigroom(servers: list[Server], plan: Plan) -> dict[str, Any]:
    """One document, real editors with awareness, cursors moving once a second, one writer."""
    out: dict[str, Any] = {}
    for size in plan.bigroom_sizes:
        processes = max(2, -(-size // plan.bigroom_per_process))
        # The floors relay every cursor to everyone (250,000 frames/s at 500): up to 100.
        names = BIG_SERVERS | (FLOORS if size <= FLOORS_BIGROOM_MAX else set())
        for server in [s for s in servers if s.name in names]:
            key = f"{server.name} {size}"
            load = os.getloadavg()[0]
            try:
                row = bigroom_run(server, plan, size, processes)
            except (RuntimeError, OSError) as exc:
                log(f"big room {key} failed: {exc!r}")
                out[key] = {"providers": size, "error": str(exc)}
                settle(server)
                continue
            row["loadavg_1min_before"] = load
            out[key] = row
            lat = row["latency_ms"]
            log(
                f"big room {key}: p50 {fmt(lat['p50'], 2)} p99 {fmt(lat['p99'], 2)} ms, "
                f"lost {row['lost']} of {row['expected']}, server {row['server_cores']:.2f} cores, "
                f"clients {row['client_cores']:.2f} cores, awareness in/out "
                f"{row['server_received_awareness_frames_per_s']:.0f}/"
                f"{row['server_sent_awareness_frames_per_s']:.0f} frames/s, "
                f"closes {row['closes_during_window']}"
            )
            time.sleep(2)
    return out


def workload_fanout_editors(servers: list[Server], plan: Plan) -> dict[str, Any]:
    """Fan-out with real editors, as browsers run them: ``fanout_editors_docs`` rooms of
    ``fanout_editors_per_doc`` providers with awareness on (every cursor moving once a second),
    one typing ``bigroom_rate`` updates/s per room; the fan-out tables' figures and ratios."""
    runs: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    for run in range(plan.fanout_editors_runs):
        for server in [s for s in servers if s.name in BIG_SERVERS | FLOORS]:
            try:
                row = bigroom_run(
                    server,
                    plan,
                    plan.fanout_editors_per_doc,
                    2,
                    docs_count=plan.fanout_editors_docs,
                    seconds=plan.fanout_editors_seconds,
                )
            except (RuntimeError, OSError) as exc:
                log(f"fan-out with editors {server.name} failed: {exc!r}")
                failed[server.name] = str(exc)
                settle(server)
                continue
            runs.setdefault(server.name, []).append(row)
            lat = row["latency_ms"]
            log(
                f"fan-out with editors run {run + 1} {server.name}: p50 {fmt(lat['p50'], 2)} "
                f"p99 {fmt(lat['p99'], 2)} max {fmt(lat['max'])} ms, lost {row['lost']} of "
                f"{row['expected']}, server {row['server_cores']:.2f} cores"
            )
            time.sleep(1)
    return {"runs": runs, "summary": summarize_runs(runs, servers), "errors": failed}


def wait_unloaded(server: Server, timeout: float = 60) -> float:
    """Wait until Tandem holds no room (``tandem_rooms_open`` is 0); the seconds waited."""
    t0 = time.monotonic()
    time.sleep(1.5)  # ROOM_IDLE_SECONDS=1
    while time.monotonic() - t0 < timeout:
        try:
            if tandem_metric(server, "tandem_rooms_open") == 0:
                break
        except OSError:
            pass  # busy: ask again
        time.sleep(0.2)
    settle(server)
    return time.monotonic() - t0


def workload_bigdoc(servers: list[Server], plan: Plan) -> dict[str, Any]:
    """A writer pastes ``bigdoc_size`` characters in one message; fresh editors then make their
    first sync with the document loaded, and for Tandem also after the room has unloaded
    (a cold load from PostgreSQL)."""
    out: dict[str, Any] = {}
    for server in [s for s in servers if s.name in BIG_SERVERS]:
        if server.ensure_running():
            CRASHES.setdefault(server.name, []).append("bigdoc")
        [doc] = docs_for(server, 1, "bigdoc")
        cold = server.durable
        providers = Providers(
            server,
            {
                "workload": "bigdoc",
                "doc": doc,
                "size": plan.bigdoc_size,
                "runs": plan.bigdoc_runs,
                "cold": cold,
            },
            server.bases[0],
        )
        waits = []
        try:
            with Sampler(server.pids) as sampler:
                cpu0, pressure0, t0 = cpu_of(server.pids), cpu_pressure(), time.monotonic()
                load0 = os.getloadavg()[0]
                pasted = providers.next("pasted", 400)
                for _ in range(plan.bigdoc_runs if cold else 0):
                    providers.next("unload", 900)
                    waits.append(wait_unloaded(server))
                    providers.command("go")
                result = providers.next("result", 900)
                cpu = cpu_of(server.pids) - cpu0
                pressure = (cpu_pressure() - pressure0) / (time.monotonic() - t0)
        except (RuntimeError, OSError) as exc:
            log(f"big document {server.name} failed: {exc!r}")
            out[server.name] = {"error": str(exc)}
            providers.stop()
            settle(server)
            continue
        providers.stop()
        result.pop("event", None)
        result.update(
            {
                "paste_event": pasted,
                "unload_waits_s": waits,
                "server_cpu_s": cpu,
                "peak_rss_mib": sampler.peak / 2**20,
                "cpu_pressure_some": pressure,
                "loadavg_1min_before": load0,
                "warm_ms": median([r["ms"] for r in result["warm"]]),
                "cold_ms": median([r["ms"] for r in result["cold"]]) if result["cold"] else None,
                "all_complete": all(r["ok"] for r in result["warm"] + result["cold"]),
            }
        )
        out[server.name] = result
        log(
            f"big document {server.name}: paste delivered in "
            f"{result['paste_delivered_ms']:.0f} ms, first sync {fmt(result['warm_ms'], 0)} ms "
            f"loaded, {fmt(result['cold_ms'], 0)} ms cold, "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB"
        )
        settle(server)
    return out
