"""The capacity check for docs/scaling.md: four Tandem replicas on a Redis of their own, a small
typing load spread round-robin over the replicas and then with document affinity, and what
each committed update costs Redis, PostgreSQL and the servers."""

from __future__ import annotations

import subprocess
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from .config import DB_NAME, LOGS, PROJECT_PY, TANDEM_ENV
from .database import new_documents
from .load import run_load
from .plan import Plan
from .procfs import cpu_of
from .report import fmt, log
from .servers import TOKENS, Server, fetch_token, free_port, tandem_metric, wait_for_port

REDIS_SERVER = "/usr/bin/redis-server"
MODES = ("round-robin", "affinity")


@contextmanager
def own_redis() -> Iterator[str]:
    """A redis-server on a free port, nothing else talking to it (so its counts are the
    replicas'), no persistence; yields its URL and stops it after."""
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "capacity-redis.log", "ab") as out:
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        proc = subprocess.Popen(
            [*command, "--appendonly", "no"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def affinity(docs: list[str], replicas: int) -> list[int]:
    """Each document's replica under document affinity: a stable hash of its id, mod N."""
    return [zlib.crc32(doc.encode()) % replicas for doc in docs]


def snapshot(server: Server, client: redis.Redis, docs: list[str]) -> dict[str, Any]:
    """The counters a capacity window is the difference of."""
    from django.db import connection

    from backend.collab.models import DocumentUpdate

    stats = client.info("commandstats")
    with connection.cursor() as cur:
        cur.execute("select xact_commit from pg_stat_database where datname = current_database()")
        [commits] = cur.fetchone() or [0]
    rows = DocumentUpdate.objects.filter(document_id__in=docs).count()
    return {
        "t": time.monotonic(),
        "redis": {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()},
        "xact_commit": commits,
        "rows": rows,
        "updates": tandem_metric(server, "tandem_updates_accepted_total"),
        "cross_replica": tandem_metric(server, "tandem_fanout_delivery_seconds_count"),
        "commit_groups": tandem_metric(server, "tandem_commit_seconds_count"),
        "cpu_s": cpu_of(server.pids),
    }


def per_update(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One window's costs, per committed update (and PostgreSQL's commits per second)."""
    updates = after["updates"] - before["updates"]
    seconds = after["t"] - before["t"]
    per = 1 / updates if updates else 0.0
    commands = {
        name: (calls - before["redis"].get(name, 0)) * per
        for name, calls in sorted(after["redis"].items())
        if calls - before["redis"].get(name, 0) > 0 and name != "info"
    }
    commits = after["xact_commit"] - before["xact_commit"]
    return {
        "updates": updates,
        "window_s": seconds,
        "redis_commands_per_update": sum(commands.values()),
        "redis_commands_per_update_by_command": commands,
        "cross_replica_messages_per_update": (after["cross_replica"] - before["cross_replica"])
        * per,
        "pg_commits_per_s": commits / seconds,
        "pg_commits_per_update": commits * per,
        "commit_groups_per_update": (after["commit_groups"] - before["commit_groups"]) * per,
        "rows_per_update": (after["rows"] - before["rows"]) * per,
        "server_cpu_us_per_update": (after["cpu_s"] - before["cpu_s"]) * per * 1e6,
    }


def idle_window(server: Server, client: redis.Redis, seconds: float) -> dict[str, Any]:
    """The replicas with no client: the Redis commands and CPU they cost per second anyway
    (the layer's blocking receive loops), the baseline under the per-update figures."""
    t0, cpu0 = time.monotonic(), cpu_of(server.pids)
    before = client.info("commandstats")
    time.sleep(seconds)
    after = client.info("commandstats")
    elapsed = time.monotonic() - t0
    by_command = {
        k.removeprefix("cmdstat_"): (int(v["calls"]) - int(before.get(k, {}).get("calls", 0)))
        / elapsed
        for k, v in sorted(after.items())
        if k != "cmdstat_info"
    }
    by_command = {k: v for k, v in by_command.items() if v > 0}
    return {
        "window_s": elapsed,
        "redis_commands_per_s": sum(by_command.values()),
        "redis_commands_per_s_by_command": by_command,
        "server_cores": (cpu_of(server.pids) - cpu0) / elapsed,
    }


def capacity_run(server: Server, plan: Plan, mode: str, client: redis.Redis) -> dict[str, Any]:
    docs = new_documents(plan.capacity_docs, f"capacity-{mode}")
    config: dict[str, Any] = {
        "workload": "fanout",
        "docs": docs,
        "readers": plan.capacity_readers,
        "rate": plan.capacity_rate,
        "seconds": plan.capacity_seconds,
    }
    if mode == "affinity":
        config["placement"] = affinity(docs, len(server.ports))
    marks: dict[str, dict[str, Any]] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] in ("start", "stop"):
            marks[event["event"]] = snapshot(server, client, docs)

    result = run_load(server, config, on_event=on_event)
    costs = per_update(marks["start"], marks["stop"])
    lat = result["latency_ms"]
    log(
        f"capacity {mode}: {costs['redis_commands_per_update']:.1f} Redis commands, "
        f"{costs['cross_replica_messages_per_update']:.2f} cross-replica messages, "
        f"{costs['rows_per_update']:.2f} rows, {costs['server_cpu_us_per_update']:.0f} us CPU "
        f"per update; {costs['pg_commits_per_s']:.0f} PostgreSQL commits/s; "
        f"p99 {fmt(lat['p99'], 1)} ms, lost {result['lost']}"
    )
    return {**costs, "placement": config.get("placement"), "load": result}


def workload_capacity(plan: Plan) -> dict[str, Any]:
    """Four replicas on their own Redis; the same small load round-robin, then with affinity."""
    out: dict[str, Any] = {
        "replicas": plan.capacity_replicas,
        "database": DB_NAME,
        "load": {
            "docs": plan.capacity_docs,
            "clients_per_doc": plan.capacity_readers + 1,
            "typing_per_doc": 1,
            "updates_per_s_per_doc": plan.capacity_rate,
            "seconds": plan.capacity_seconds,
        },
    }
    with own_redis() as url:
        command = [str(PROJECT_PY), "-m", "backend.serve"]
        server = Server(
            "tandem-capacity",
            f"Tandem ({plan.capacity_replicas} replicas, own Redis)",
            "tandem",
            [command] * plan.capacity_replicas,
            {**TANDEM_ENV, "REDIS_URL": url},
            durable=True,
        )
        client = redis.Redis.from_url(url)
        server.start()
        try:
            TOKENS[server.name] = fetch_token(server)
            time.sleep(2)  # the replicas' start-up is not their idle cost
            out["idle"] = idle_window(server, client, plan.capacity_idle_seconds)
            log(
                f"capacity idle: {out['idle']['redis_commands_per_s']:.1f} Redis commands/s, "
                f"{out['idle']['server_cores']:.3f} cores with no client"
            )
            for mode in MODES:
                out[mode] = capacity_run(server, plan, mode, client)
                time.sleep(1)
        finally:
            server.stop()
            client.close()
    return out


def report_capacity(rows: dict[str, Any]) -> list[str]:
    load = rows["load"]
    lines = [
        f"\nCapacity check: {rows['replicas']} Tandem replicas on their own Redis, "
        f"{load['docs']} docs x {load['clients_per_doc']} clients, 1 typing "
        f"{load['updates_per_s_per_doc']:g} updates/s per doc, {load['seconds']:g} s; "
        "costs per committed update",
        "| placement | updates | Redis commands | cross-replica messages | PostgreSQL commits/s "
        "| PG commits | rows | server CPU us | p99 ms | lost | Redis commands by command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    idle = rows.get("idle")
    if idle:
        by = ", ".join(
            f"{name} {n:.1f}"
            for name, n in sorted(
                idle["redis_commands_per_s_by_command"].items(), key=lambda kv: -kv[1]
            )
        )
        lines.insert(
            1,
            f"With no client the {rows['replicas']} replicas cost "
            f"{idle['redis_commands_per_s']:.1f} Redis commands/s{f' ({by})' if by else ''} and "
            f"{idle['server_cores']:.3f} cores; the per-update figures include that baseline.",
        )
    for mode in MODES:
        if mode not in rows:
            continue
        r = rows[mode]
        by = ", ".join(
            f"{name} {n:.2f}"
            for name, n in sorted(
                r["redis_commands_per_update_by_command"].items(), key=lambda kv: -kv[1]
            )
        )
        lines.append(
            f"| {mode} | {r['updates']:.0f} | {r['redis_commands_per_update']:.2f} "
            f"| {r['cross_replica_messages_per_update']:.2f} | {r['pg_commits_per_s']:.1f} "
            f"| {r['pg_commits_per_update']:.2f} | {r['rows_per_update']:.2f} "
            f"| {r['server_cpu_us_per_update']:.0f} | {fmt(r['load']['latency_ms']['p99'], 1)} "
            f"| {r['load']['lost']} | {by} |"
        )
    return lines
