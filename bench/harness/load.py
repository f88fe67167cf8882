"""One run of bench/load.mjs against a server: its events, the CPU windows, the settling after."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import NODE_BIN, ROOT
from .database import new_documents
from .procfs import DatabaseCpu, Sampler, cpu_seconds
from .report import log
from .servers import CRASHES, TOKENS, Server


@dataclass
class Window:
    cpu: float = 0.0
    db_cpu: float | None = 0.0  # None: unknown (``DatabaseCpu.stop``)
    seconds: float = 0.0


def run_load(
    server: Server,
    config: dict[str, Any],
    *,
    timeout: float = 300,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run load.mjs against ``server``; CPU is summed over the start..stop windows."""
    if server.ensure_running():
        CRASHES.setdefault(server.name, []).append(config["workload"])
        log(f"{server.name} had exited; restarted it before this {config['workload']} run")
    config = {**config, "style": server.style, "bases": server.bases}
    if server.style == "tandem":
        config["token"] = TOKENS[server.name]
    proc = subprocess.Popen(
        [NODE_BIN, "bench/load.mjs", json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    window = Window()
    mark: tuple[float, float, float] | None = None
    database = DatabaseCpu(server.durable)
    result: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    with Sampler(server.pids) as sampler:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            now = time.monotonic()
            if event["event"] == "start":
                database.start()
                mark = (sum(cpu_seconds(p) for p in server.pids), 0.0, now)
            elif event["event"] == "stop" and mark is not None:
                cpu = sum(cpu_seconds(p) for p in server.pids) - mark[0]
                db_cpu = database.stop()
                window.cpu += cpu
                if window.db_cpu is not None:
                    window.db_cpu = None if db_cpu is None else window.db_cpu + db_cpu
                window.seconds += now - mark[2]
                steps.append({"cpu_s": cpu, "db_cpu_s": db_cpu, "seconds": now - mark[2]})
                mark = None
            elif event["event"] == "result":
                result = event
            elif event["event"] == "error":
                proc.kill()
                raise RuntimeError(f"{server.name}: {event['message']}")
            if on_event is not None:
                on_event(event)
            if now > deadline:
                proc.kill()
                raise RuntimeError(f"{server.name}: load timed out")
        proc.wait()
    if proc.returncode != 0 or not result:
        raise RuntimeError(
            f"{server.name}: load.mjs failed: {proc.stderr.read() if proc.stderr else ''}"
        )
    result.pop("event", None)
    result["settle_s"] = settle(server)
    result["server_cpu_s"] = window.cpu
    result["db_cpu_s"] = window.db_cpu if server.durable else None
    result["window_s"] = window.seconds
    result["peak_rss_mib"] = sampler.peak / 2**20
    result["windows"] = steps
    return result


def settle(server: Server, limit: float = 60) -> float:
    """Wait until the server is idle (under 5% of a core over 0.5 s): a backlog from an
    overloaded run must not spill into the next measurement. Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        before = sum(cpu_seconds(p) for p in server.pids)
        time.sleep(0.5)
        if sum(cpu_seconds(p) for p in server.pids) - before < 0.025:
            break
    return time.monotonic() - t0


def docs_for(server: Server, count: int, tag: str) -> list[str]:
    """Room names: real documents for Tandem, fresh random names for the others."""
    if server.style == "tandem":
        return new_documents(count, tag)
    return [f"{tag}-{uuid.uuid4().hex[:12]}" for _ in range(count)]
