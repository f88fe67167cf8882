"""Tandem's benchmark suite: every server under test on loopback, the same clients, one run.

``make bench`` runs this with the project's virtualenv (``make bench BENCH_QUICK=1`` for a
short pass). It starts the servers (Tandem single process, Tandem with two replicas, the
y-websocket reference server, Hocuspocus, pycrdt-websocket and the bare relay), drives them
with ``bench/load.mjs`` (and with real editors, ``bench/providers.mjs``, in the big-room and
big-document workloads), samples each server's CPU time and RSS from ``/proc``, prints a
table and writes ``bench/results/latest.json``. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.capacity import workload_capacity
from harness.commit_probe import commit_probe
from harness.config import RESULTS
from harness.database import bench_user, prepare_database, purge_run_documents, setup_django
from harness.editors import workload_bigdoc, workload_bigroom, workload_fanout_editors
from harness.plan import FULL, QUICK, Plan
from harness.publish import PublishRefused, backend_dirty, database_settings, publish
from harness.report import log, run_record, write_results
from harness.servers import CRASHES, TOKENS, Server, fetch_token, make_servers
from harness.workloads import (
    workload_audience,
    workload_catchup,
    workload_cold,
    workload_fanout,
    workload_idle,
    workload_profile,
    workload_saturation,
)


@contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    try:
        for server in servers:
            log(f"starting {server.label}")
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()


# What a run does without --workloads; "profile" and "capacity" run only when named.
ALL_WORKLOADS = ["idle", "cold", "fanout", "audience", "saturation", "catchup", "bigroom", "bigdoc"]


def selected_workload(key: str, workloads: list[str]) -> bool:
    """``--workloads fanout`` runs every fan-out; ``fanout-editors`` only that one."""
    return key.split("_")[0] in workloads or key.replace("_", "-") in workloads


def schedule(
    servers: list[Server], plan: Plan, profile_docs: int
) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The workloads in the order they run: a key (``--workloads`` names its first part) and
    what runs it; ``main`` skips those not asked for."""
    tandem = next((s for s in servers if s.name == "tandem"), None)
    return [
        ("idle", lambda: workload_idle(servers, plan)),
        ("cold", lambda: workload_cold(tandem, plan) if tandem else {}),
        (
            "fanout",
            lambda: workload_fanout(
                servers,
                plan,
                docs_count=plan.fanout_docs,
                seconds=plan.fanout_seconds,
                runs_count=plan.runs,
            ),
        ),
        # Issue 15's scale (100 docs x 10 clients x 10 updates/s for 30 s) on every server,
        # the replicas too: their target is within 1.5 x one process.
        (
            "fanout_issue_scale",
            lambda: (
                workload_fanout(
                    servers,
                    plan,
                    docs_count=plan.issue_fanout_docs,
                    seconds=plan.issue_fanout_seconds,
                    runs_count=1,
                )
                if plan.issue_fanout_docs
                else {}
            ),
        ),
        ("fanout_editors", lambda: workload_fanout_editors(servers, plan)),
        ("audience", lambda: workload_audience(servers, plan)),
        ("saturation", lambda: workload_saturation(servers, plan)),
        ("catchup", lambda: workload_catchup(servers, plan)),
        ("bigroom", lambda: workload_bigroom(servers, plan)),
        ("bigdoc", lambda: workload_bigdoc(servers, plan)),
        ("capacity", lambda: workload_capacity(plan)),
        (
            "profile",
            lambda: {
                s.name: workload_profile(s, plan, profile_docs, 15)
                for s in servers
                if s.style == "tandem"
            },
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Tandem's benchmark suite")
    parser.add_argument("--quick", action="store_true", help="a short pass (a couple of minutes)")
    parser.add_argument("--servers", help="comma-separated subset of server names")
    parser.add_argument(
        "--workloads",
        help=f"comma-separated subset of {','.join(ALL_WORKLOADS)} (fanout-editors, "
        "fanout-issue-scale: one fan-out only; profile, capacity: not run by default)",
    )
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    parser.add_argument(
        "--publish",
        metavar="NAME",
        help="copy the run's JSON and tables to bench/results/published/NAME.* (refused when "
        "fsync or synchronous_commit is off or backend/ had uncommitted changes)",
    )
    parser.add_argument("--bigroom-sizes", help="comma-separated editors per big room (100,500)")
    parser.add_argument(
        "--profile-docs",
        type=int,
        default=10,
        help="documents in the profiled fan-out (workload 'profile', not run by default)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.bigroom_sizes:
        plan.bigroom_sizes = [int(n) for n in args.bigroom_sizes.split(",")]
    selected = set(args.servers.split(",")) if args.servers else None
    workloads = args.workloads.split(",") if args.workloads else ALL_WORKLOADS
    started = time.monotonic()

    prepare_database()
    setup_django()
    purge_run_documents()
    bench_user()
    # The capacity check starts servers of its own; alone, it needs none of the others.
    servers = make_servers(selected) if set(workloads) - {"capacity"} else []
    data = run_record(quick=args.quick, plan=plan, servers=servers)
    data["database"] = database_settings()
    data["commit_probe"] = commit_probe()
    data["workload_seconds"] = {}
    with running(servers):
        for server in servers:
            if server.style == "tandem":
                TOKENS[server.name] = fetch_token(server)
        w = data["workloads"]
        for key, step in schedule(servers, plan, args.profile_docs):
            if not selected_workload(key, workloads):
                continue
            t0 = time.monotonic()
            try:
                result = step()
            except Exception as exc:  # one broken workload must not lose the others
                log(f"workload {key} failed: {exc}")
                data.setdefault("errors", {})[key] = str(exc)
                continue
            finally:
                # What each workload costs the run (budget: a full run under ~20 minutes).
                data["workload_seconds"][key] = round(time.monotonic() - t0, 1)
            if result:
                w[key] = result
        data["server_crashes"] = CRASHES
    data["machine"]["loadavg_at_end"] = os.getloadavg()
    data["elapsed_s"] = time.monotonic() - started
    data["tandem_worktree_dirty_at_end"] = backend_dirty()
    write_results(data, servers, Path(args.output))
    if args.publish:
        try:
            written = publish(Path(args.output), args.publish, data)
        except PublishRefused as exc:
            sys.exit(f"error: {exc}")
        log("published " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
