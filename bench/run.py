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
import json
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
NODE_BIN = "node"
PROJECT_PY = ROOT / ".venv" / "bin" / "python"
BENCH_PY = BENCH / ".venv" / "bin" / "python"

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DB_NAME = os.environ.get("BENCH_DATABASE", "tandem_bench")
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "tandem-bench-only-secret-key-not-for-production"
BENCH_USER, BENCH_PASSWORD = "bench", "bench-password-not-secret-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Tandem's environment for the bench: production code paths (PostgreSQL, Redis, durable log,
# snapshots every 500 updates), with the per-user limits raised because one user owns every
# bench connection, long-lived tokens, and rooms unloading after 1 s so cold loads are cold.
TANDEM_ENV = {
    "DJANGO_SETTINGS_MODULE": "backend.settings",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "REDIS_PREFIX": "tandem-bench",
    "SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "JWT_ACCESS_LIFETIME": str(7 * 24 * 3600),
    "WS_MAX_CONNECTIONS_PER_USER": "100000",
    "WS_MAX_MESSAGES_PER_SECOND": "1000000",
    "ROOM_IDLE_SECONDS": "1",
    "LOG_LEVEL": "WARNING",
    # The big-document workload pastes 20 MB in one message (the default was 1 MiB until
    # issue 13); set here so the bench runs the same before and after that change.
    "WS_MAX_MESSAGE_BYTES": str(32 * 1024 * 1024),
}


# ---- measurement of a process tree from /proc ----------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


class Sampler:
    """Samples the summed RSS of ``pids`` every 50 ms; ``peak`` is the highest sum seen."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = sum(rss_bytes(p) for p in pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, sum(rss_bytes(p) for p in self.pids))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def postgres_backends() -> list[int]:
    """Pids of the PostgreSQL backends serving the bench database (Tandem's durability CPU)."""
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB_NAME, "-Atc",
         f"select pid from pg_stat_activity where datname = '{DB_NAME}' and pid <> pg_backend_pid()"],
        capture_output=True, text=True, check=False,
    )
    return [int(line) for line in out.stdout.split() if line.strip().isdigit()]


# ---- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@dataclass
class Server:
    """One server under test: one or more processes, their ws bases, and the client style."""

    name: str
    label: str
    style: str  # load.mjs framing: 'tandem', 'path' or 'hocuspocus'
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)
    durable: bool = False
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def bases(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        for i, template in enumerate(self.commands):
            port = free_port()
            command = [part.replace("{port}", str(port)) for part in template]
            env = {**os.environ, **self.env, "PORT": str(port), "HOST": "127.0.0.1"}
            log = open(LOGS / f"{self.name}-{i}.log", "ab")  # noqa: SIM115
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(proc)
            self.ports.append(port)
        for proc, port in zip(self.procs, self.ports, strict=True):
            wait_for_port(port, proc)
        if self.style == "tandem":
            for port in self.ports:
                wait_http(f"http://127.0.0.1:{port}/healthz")

    def ensure_running(self) -> bool:
        """Restart the server if a process died (recorded as a crash); True if it did."""
        if all(p.poll() is None for p in self.procs):
            return False
        self.stop()
        self.start()
        if self.style == "tandem":
            TOKENS[self.name] = fetch_token(self)
        return True

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs, self.ports = [], []


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def make_servers(selected: set[str] | None) -> list[Server]:
    tandem = [str(PROJECT_PY), "-m", "backend.serve"]
    servers = [
        Server("tandem", "Tandem (1 process)", "tandem", [tandem], TANDEM_ENV, durable=True),
        Server("tandem-2r", "Tandem (2 replicas)", "tandem", [tandem, tandem], TANDEM_ENV, durable=True),
        Server("y-websocket", "y-websocket 1.5.4", "path",
               [[NODE_BIN, "bench/node_modules/y-websocket/bin/server.js"]]),
        Server("hocuspocus", "Hocuspocus 3.4.4", "hocuspocus",
               [[NODE_BIN, "bench/servers/hocuspocus.mjs", "{port}"]]),
        Server("pycrdt-websocket", "pycrdt-websocket 0.16.5", "path",
               [[str(BENCH_PY), "bench/servers/pycrdt_websocket_server.py", "{port}"]]),
        Server("bare-relay", "bare relay (pycrdt+websockets)", "path",
               [[str(PROJECT_PY), "bench/bare_relay.py", "--port", "{port}"]]),
    ]
    # Experiments (bench/experiments/tandem_patched.py): run only when named in --servers.
    patched = [str(PROJECT_PY), "bench/experiments/tandem_patched.py"]
    experiments = [
        Server("tandem-nohop", "Tandem + patch: no per-frame DB-thread hop", "tandem",
               [[*patched, "--no-frame-hop"]], TANDEM_ENV, durable=True),
        Server("tandem-nohop-pool", "Tandem + patches: no hop, pooled DB threads", "tandem",
               [[*patched, "--no-frame-hop", "--db-pool"]], TANDEM_ENV, durable=True),
    ]
    if selected is None:
        return servers
    return [s for s in servers + experiments if s.name in selected]


# ---- Tandem's database: users, documents and history, in a dedicated database --------------


def prepare_database() -> None:
    exists = subprocess.run(
        ["psql", PG_ADMIN, "-Atc", f"select 1 from pg_database where datname = '{DB_NAME}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", PG_ADMIN, "-qc", f'create database "{DB_NAME}"'], check=True)
    subprocess.run(
        [str(PROJECT_PY), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env={**os.environ, **TANDEM_ENV}, check=True,
    )


def setup_django() -> None:
    os.environ.update(TANDEM_ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def bench_user() -> Any:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = user_model.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = user_model.objects.create_user(username=BENCH_USER, password=BENCH_PASSWORD)
    return user


def new_documents(count: int, prefix: str) -> list[str]:
    """``count`` fresh documents owned by the bench user (run documents are purged each run)."""
    from backend.documents.models import Document

    owner = bench_user()
    docs = Document.objects.bulk_create(
        Document(title=f"bench-run-{prefix}-{i}", owner=owner) for i in range(count)
    )
    return [str(d.pk) for d in docs]


def purge_run_documents() -> None:
    """Delete the documents earlier runs created (not the cold-load histories, kept as cache)."""
    from django.db import connection

    from backend.collab.models import DocumentSnapshot, DocumentUpdate
    from backend.documents.models import Document, Membership

    doc = Document._meta.db_table
    with connection.cursor() as cur:
        for model in (DocumentUpdate, DocumentSnapshot, Membership):
            cur.execute(
                f"delete from {model._meta.db_table} where document_id in "  # noqa: S608
                f"(select id from {doc} where title like 'bench-run-%%')"
            )
        cur.execute(f"delete from {doc} where title like 'bench-run-%%'")  # noqa: S608


def fetch_token(server: Server) -> str:
    body = json.dumps({"username": BENCH_USER, "password": BENCH_PASSWORD}).encode()
    request = urllib.request.Request(  # noqa: S310
        f"http://127.0.0.1:{server.ports[0]}/api/auth/token/",
        data=body, headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return str(json.load(response)["access"])


def _var_uint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def _var_string(text: str) -> bytes:
    data = text.encode()
    return _var_uint(len(data)) + data


def typing_updates(client: int, count: int, name: str = "bench") -> Iterator[bytes]:
    """The Yjs updates of one client typing ``count`` characters at the end of Text ``name``.

    Encoded directly (lib0 v1 update format): byte for byte what pycrdt emits for each
    ``text.insert(len, ch)`` (checked in tests against pycrdt), but fast enough for 1M rows.
    """
    c = _var_uint(client)
    head = b"\x01\x01" + c
    for k in range(count):
        ch = _var_string("abcdefghij"[k % 10])
        if k == 0:  # no origin: the parent is the root type ``name``
            yield head + b"\x00\x04\x01" + _var_string(name) + ch + b"\x00"
        else:  # ContentString with its left origin (client, k - 1)
            yield head + _var_uint(k) + b"\x84" + c + _var_uint(k - 1) + ch + b"\x00"


def typing_state(client: int, count: int, name: str = "bench") -> bytes:
    """The full state after ``typing_updates``: one merged item, as encodeStateAsUpdate gives."""
    text = "".join("abcdefghij"[k % 10] for k in range(count))
    return (b"\x01\x01" + _var_uint(client) + b"\x00\x04\x01" + _var_string(name)
            + _var_string(text) + b"\x00")


def history_document(updates: int, *, snapshot: bool) -> str:
    """A document with ``updates`` rows of typing history, written straight into the tables.

    One client types one character per update (what an editor sends for each keystroke).
    With ``snapshot`` a snapshot at the head is stored too, as Tandem's rooms do every
    ``SNAPSHOT_EVERY`` updates. Kept between runs (title ``bench-history-...``) as a cache.
    """
    from django.db import connection, transaction

    from backend.collab.models import DocumentSnapshot, DocumentUpdate
    from backend.documents.models import Document

    title = f"bench-history-{updates}-{'snap' if snapshot else 'nosnap'}"
    existing = Document.objects.filter(title=title, head_seq=updates).first()
    if existing is not None:
        has_snapshot = DocumentSnapshot.objects.filter(document=existing).exists()
        if snapshot and has_snapshot:
            return str(existing.pk)
        if not snapshot:
            DocumentSnapshot.objects.filter(document=existing).delete()
            return str(existing.pk)
    Document.objects.filter(title=title).delete()
    owner = bench_user()
    client = 424242
    with transaction.atomic():
        document = Document.objects.create(title=title, owner=owner)
        table = DocumentUpdate._meta.db_table
        with connection.cursor() as cur:
            copy_sql = f"copy {table} (document_id, seq, update, author_id, created_at) from stdin"
            with cur.connection.cursor().copy(copy_sql) as copy:
                now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
                for seq, update in enumerate(typing_updates(client, updates), start=1):
                    copy.write_row((document.pk, seq, update, owner.pk, now))
        Document.objects.filter(pk=document.pk).update(head_seq=updates)
        if snapshot:
            DocumentSnapshot.objects.create(
                document=document, seq=updates, state=typing_state(client, updates)
            )
    return str(document.pk)


def drop_snapshots(doc_id: str) -> None:
    from backend.collab.models import DocumentSnapshot

    DocumentSnapshot.objects.filter(document_id=doc_id).delete()


# ---- driving a workload -------------------------------------------------------------------


@dataclass
class Window:
    cpu: float = 0.0
    db_cpu: float = 0.0
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
    db_pids = postgres_backends() if server.durable else []
    proc = subprocess.Popen(
        [NODE_BIN, "bench/load.mjs", json.dumps(config)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + timeout
    window = Window()
    mark: tuple[float, float, float] | None = None
    db_start: dict[int, float] = {}
    result: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    with Sampler(server.pids) as sampler:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            now = time.monotonic()
            if event["event"] == "start":
                db_pids = postgres_backends() if server.durable else []
                db_start = {p: cpu_seconds(p) for p in db_pids}
                mark = (sum(cpu_seconds(p) for p in server.pids), 0.0, now)
            elif event["event"] == "stop" and mark is not None:
                cpu = sum(cpu_seconds(p) for p in server.pids) - mark[0]
                # Backends that exited during the window read as 0: count only survivors.
                db_cpu = sum(max(0.0, cpu_seconds(p) - t) for p, t in db_start.items()
                             if Path(f"/proc/{p}").exists())
                window.cpu += cpu
                window.db_cpu += db_cpu
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
        raise RuntimeError(f"{server.name}: load.mjs failed: {proc.stderr.read() if proc.stderr else ''}")
    result.pop("event", None)
    result["settle_s"] = settle(server)
    result["server_cpu_s"] = window.cpu
    result["db_cpu_s"] = window.db_cpu if server.durable else None
    result["window_s"] = window.seconds
    result["peak_rss_mib"] = sampler.peak / 2**20
    result["windows"] = steps
    return result


TOKENS: dict[str, str] = {}
CRASHES: dict[str, list[str]] = {}


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


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


# ---- the workloads ------------------------------------------------------------------------


@dataclass
class Plan:
    runs: int
    fanout_docs: int
    fanout_readers: int
    fanout_rate: float
    fanout_seconds: float
    issue_fanout_docs: int
    issue_fanout_seconds: float
    audience: list[int]
    audience_rate: float
    audience_seconds: float
    audience_runs: int
    saturation_docs: int
    saturation_readers: int
    saturation_rates: list[int]
    saturation_seconds: float
    saturation_runs: int
    idle_connections: int
    idle_docs: int
    cold_sizes: list[int]
    cold_nosnap_sizes: list[int]
    catchup_updates: int
    catchup_rate: float
    bigroom_sizes: list[int]
    bigroom_seconds: float
    bigdoc_size: int
    bigdoc_runs: int
    catchup_replicas: bool = True
    bigroom_rate: float = 10
    bigroom_warmup: float = 3
    bigroom_drain: float = 3
    bigroom_per_process: int = 125  # editors per load process, at least two processes


FULL = Plan(
    runs=3, fanout_docs=10, fanout_readers=9, fanout_rate=10, fanout_seconds=5,
    issue_fanout_docs=100, issue_fanout_seconds=3,
    audience=[10, 100, 1000], audience_rate=10, audience_seconds=2.5, audience_runs=1,
    saturation_docs=10, saturation_readers=4,
    saturation_rates=[100, 200, 400, 800, 1600, 3200, 6400],
    saturation_seconds=2, saturation_runs=1,
    idle_connections=10000, idle_docs=100,
    cold_sizes=[1000, 100_000, 1_000_000], cold_nosnap_sizes=[1000, 100_000],
    catchup_updates=10_000, catchup_rate=4000, catchup_replicas=False,
    bigroom_sizes=[100, 500], bigroom_seconds=20,
    bigdoc_size=20_000_000, bigdoc_runs=3,
)
QUICK = Plan(
    runs=1, fanout_docs=10, fanout_readers=9, fanout_rate=10, fanout_seconds=4,
    issue_fanout_docs=0, issue_fanout_seconds=0,
    audience=[100], audience_rate=10, audience_seconds=3, audience_runs=1,
    saturation_docs=10, saturation_readers=4, saturation_rates=[100, 400, 1600, 6400],
    saturation_seconds=2, saturation_runs=1,
    idle_connections=300, idle_docs=10,
    cold_sizes=[1000, 100_000], cold_nosnap_sizes=[1000],
    catchup_updates=1000, catchup_rate=1000,
    bigroom_sizes=[100], bigroom_seconds=8,
    bigdoc_size=2_000_000, bigdoc_runs=1,
)


def docs_for(server: Server, count: int, tag: str) -> list[str]:
    """Room names: real documents for Tandem, fresh random names for the others."""
    if server.style == "tandem":
        return new_documents(count, tag)
    return [f"{tag}-{uuid.uuid4().hex[:12]}" for _ in range(count)]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


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
            timeout=900, on_event=on_event,
        )
        after = sampled.get("rss", 0.0)
        result["rss_before_mib"] = before / 2**20
        result["rss_after_mib"] = after / 2**20
        result["kib_per_connection"] = (after - before) / 1024 / plan.idle_connections
        out[server.name] = result
        log(f"idle {server.name}: {result['kib_per_connection']:.1f} KiB/conn, "
            f"{result['connect_seconds']:.1f} s to connect {plan.idle_connections}")
        time.sleep(2)
    return out


def workload_fanout(
    servers: list[Server], plan: Plan, *, docs_count: int, seconds: float, runs_count: int
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    for run in range(runs_count):
        for server in servers:
            docs = docs_for(server, docs_count, "fanout")
            result = run_load(server, {
                "workload": "fanout", "docs": docs, "readers": plan.fanout_readers,
                "rate": plan.fanout_rate, "seconds": seconds,
            })
            runs[server.name].append(result)
            lat = result["latency_ms"]
            log(f"fanout {docs_count} docs run {run + 1} {server.name}: p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} "
                f"max {lat['max']:.1f} ms, lost {result['lost']}, cpu {result['server_cpu_s']:.2f} s")
            time.sleep(0.5)
    return {"runs": runs, "summary": summarize_runs(runs, servers)}


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
    # Ratios inside each run (the same run index), then their median.
    for name in runs:
        for ref in ("y-websocket", "bare-relay", "hocuspocus", "pycrdt-websocket"):
            if ref in runs and name != ref:
                ratios = [
                    a["latency_ms"]["p99"] / b["latency_ms"]["p99"]
                    for a, b in zip(runs[name], runs[ref], strict=False)
                    if a["latency_ms"]["p99"] and b["latency_ms"]["p99"]
                ]
                summary[name][f"p99_vs_{ref}"] = median(list(ratios))
    return summary


def workload_audience(servers: list[Server], plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {s.name: {} for s in servers}
    for readers in plan.audience:
        for server in servers:
            results = []
            for _ in range(plan.audience_runs):
                [doc] = docs_for(server, 1, f"audience{readers}")
                result = run_load(server, {
                    "workload": "fanout", "docs": [doc], "readers": readers,
                    "rate": plan.audience_rate, "seconds": plan.audience_seconds,
                }, timeout=600)
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
            log(f"audience {readers} {server.name}: p99 {row['p99_ms']:.2f} ms, "
                f"{row['cpu_us_per_delivery']:.1f} us CPU/delivery, lost {row['lost']}")
    return out


def workload_saturation(servers: list[Server], plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for server in servers:
        results = []
        for _ in range(plan.saturation_runs):
            docs = docs_for(server, plan.saturation_docs, "saturation")
            result = run_load(server, {
                "workload": "saturate", "docs": docs, "readers": plan.saturation_readers,
                "rates": plan.saturation_rates, "seconds": plan.saturation_seconds,
            }, timeout=600)
            for step, window in zip(result["steps"], result["windows"], strict=False):
                step["server_cpu_s"] = window["cpu_s"]
                step["db_cpu_s"] = window["db_cpu_s"] if server.durable else None
            results.append(result)
            time.sleep(2)
        out[server.name] = {
            "capped_by_load_generator": all(r["max_ok_rate"] == max(plan.saturation_rates)
                                            for r in results),
            "max_ok_updates_per_s": median([r["max_ok_sent_per_s"] for r in results]),
            "max_ok_deliveries_per_s": median([r["max_ok_deliveries_per_s"] for r in results]),
            "runs": results,
        }
        log(f"saturation {server.name}: {out[server.name]['max_ok_updates_per_s']:.0f} updates/s "
            f"({out[server.name]['max_ok_deliveries_per_s']:.0f} deliveries/s)")
    return out


def workload_catchup(servers: list[Server], plan: Plan) -> dict[str, Any]:
    """A client away for N updates comes back: bytes and time until its Doc equals the
    writer's. One write phase per server; ``runs`` away clients per variant (Tandem also
    replays from a sequence number with its ``hello`` extension)."""
    out: dict[str, Any] = {}
    for server in servers:
        if len(server.commands) > 1 and not plan.catchup_replicas:
            continue  # ~100 s at Tandem's ~100 updates/s; the quick pass covers the replicas
        [doc] = docs_for(server, 1, "catchup")
        modes = [False, True] if server.style == "tandem" else [False]
        try:
            result = run_load(server, {
                "workload": "catchup", "doc": doc, "updates": plan.catchup_updates,
                "rate": plan.catchup_rate, "clients": plan.runs, "helloModes": modes,
            }, timeout=900)
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
            log(f"catch-up {key}: {out[key]['catchup_ms']:.1f} ms, {out[key]['bytes']:.0f} bytes "
                f"(the {plan.catchup_updates} updates took {result['write_seconds']:.1f} s to relay)")
    return out


def workload_profile(server: Server, plan: Plan, docs_count: int, seconds: float) -> dict[str, Any]:
    """py-spy on the server's process(es) during a typing fan-out window (not in the table:
    sampling costs the server CPU). Writes bench/results/profile-<server>.txt (collapsed
    stacks) and returns the summary of bench/profile_summary.py."""
    sys.path.insert(0, str(BENCH))
    from profile_summary import summarize  # noqa: PLC0415

    pyspy = BENCH / ".venv" / "bin" / "py-spy"
    raw = RESULTS / f"profile-{server.name}.txt"
    spies: list[subprocess.Popen[bytes]] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "start":
            for pid in server.pids[:1]:
                spies.append(subprocess.Popen(
                    [str(pyspy), "record", "--nonblocking", "--rate", "200", "--duration",
                     str(int(seconds)), "--format", "raw", "--output", str(raw), "--pid", str(pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))

    docs = docs_for(server, docs_count, "profile")
    result = run_load(server, {
        "workload": "fanout", "docs": docs, "readers": plan.fanout_readers,
        "rate": plan.fanout_rate, "seconds": seconds,
    }, on_event=on_event)
    for spy in spies:
        spy.wait(timeout=60)
    summary = summarize(raw, 30)
    (RESULTS / f"profile-{server.name}.summary.txt").write_text(summary + "\n")
    log(f"profile of {server.name} ({docs_count} docs): p99 {result['latency_ms']['p99']:.1f} ms, "
        f"lost {result['lost']}; summary in {RESULTS / f'profile-{server.name}.summary.txt'}")
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
            if not snapshot:
                drop_snapshots(doc)  # the room stores one when it unloads
            time.sleep(2.5)  # ROOM_IDLE_SECONDS=1: the room from the last run is gone
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


# ---- real editors: the big room and the big document (bench/providers.mjs) ----------------

BIG_SERVERS = {"tandem", "tandem-2r", "y-websocket", "hocuspocus"}


class Providers:
    """One bench/providers.mjs process: its JSON events in a queue, commands on its stdin."""

    def __init__(self, server: Server, config: dict[str, Any], base: str) -> None:
        config = {**config, "style": server.style, "base": base}
        if server.style == "tandem":
            config["token"] = TOKENS[server.name]
        self.proc = subprocess.Popen(
            [NODE_BIN, "bench/providers.mjs", json.dumps(config)], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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


def tandem_metric(server: Server, name: str, timeout: float = 10) -> float:
    """A counter or gauge summed over Tandem's processes, from ``/metrics`` (0 if absent)."""
    total = 0.0
    for port in server.ports:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name) and not line.startswith("#"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def cpu_pressure() -> float:
    """Seconds during which some runnable task waited for a CPU (/proc/pressure/cpu), so a
    window's share tells how busy the shared machine was; 0 where PSI is missing."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0.0
    return int(some.rsplit("total=", 1)[1]) / 1e6


def tandem_bytes(server: Server) -> list[float] | None:
    """Tandem's WebSocket payload bytes received and sent so far; None when ``/metrics`` does
    not answer in time (an overloaded event loop) or the server is not Tandem."""
    if server.style != "tandem":
        return None
    try:
        return [tandem_metric(server, f"tandem_bytes_{d}_total", timeout=3)
                for d in ("received", "sent")]
    except OSError:
        return None


def bigroom_run(server: Server, plan: Plan, size: int, processes: int) -> dict[str, Any]:
    """``size`` real editors in one document over ``processes`` load processes: the writer's
    delivery latency and losses, server and client CPU, frames by type counted at the clients."""
    if server.ensure_running():
        CRASHES.setdefault(server.name, []).append("bigroom")
    [doc] = docs_for(server, 1, f"bigroom{size}")
    cuts = [size * k // processes for k in range(processes + 1)]
    procs: list[Providers] = []
    measured: dict[str, Any] = {}
    try:
        for k in range(processes):
            config = {"workload": "bigroom", "doc": doc, "from": cuts[k], "to": cuts[k + 1],
                      "rate": plan.bigroom_rate}
            procs.append(Providers(server, config, server.bases[k % len(server.bases)]))
        synced = [p.next("synced", 300) for p in procs]
        clients = [p.proc.pid for p in procs]
        with Sampler(server.pids) as sampler:
            for p in procs:
                p.command(f"start {plan.bigroom_warmup} {plan.bigroom_seconds} "
                          f"{plan.bigroom_drain}")
            time.sleep(plan.bigroom_warmup)
            db0 = {pid: cpu_seconds(pid) for pid in (postgres_backends() if server.durable else [])}
            t0 = time.monotonic()
            cpu0, client0 = cpu_of(server.pids), cpu_of(clients)
            pressure0, load0 = cpu_pressure(), os.getloadavg()[0]
            bytes0 = tandem_bytes(server)
            time.sleep(max(0.0, plan.bigroom_seconds - (time.monotonic() - t0)))
            window = time.monotonic() - t0
            measured = {
                "server_cpu_s": cpu_of(server.pids) - cpu0,
                "client_cpu_s": cpu_of(clients) - client0,
                "db_cpu_s": sum(max(0.0, cpu_seconds(pid) - t) for pid, t in db0.items()
                                if Path(f"/proc/{pid}").exists()) if server.durable else None,
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
            timeout = plan.bigroom_seconds + plan.bigroom_drain + 300
            results = [p.next("result", timeout) for p in procs]
    finally:
        for p in procs:
            p.stop()
    out = bigroom_summary(results, measured)
    out.update({
        "providers": size,
        "load_processes": processes,
        "connect_seconds": max(s["seconds"] for s in synced),
        "all_synced": all(s["all"] for s in synced),
        "peak_rss_mib": sampler.peak / 2**20,
        "settle_s": settle(server),
        "processes": results,
    })
    return out


def bigroom_summary(results: list[dict[str, Any]], measured: dict[str, Any]) -> dict[str, Any]:
    """One big-room run from its load processes' results and the server's CPU window."""
    sent = sum(r["sent"] for r in results)
    readers = sum(r["readers"] for r in results)
    lat = [v for r in results for v in r.pop("latency_ms")]
    received = sum(r["received"] for r in results)
    seconds = statistics.mean(r["window_s"] for r in results)

    def per_s(key: str, kind: str | None = None) -> float:
        """Summed over the processes, per second; ``kind`` picks a message type."""
        values = [r[key] if kind is None else r[key].get(kind, 0) for r in results]
        return sum(sum(v.values()) if isinstance(v, dict) else v for v in values) / seconds

    window = measured["window_s"]
    return {
        "writer_updates": sent,
        "readers": readers,
        "expected": sent * readers,
        "received": received,
        "lost": max(0, sent * readers - received),
        "converged_readers": sum(1 for r in results for m in r["markers_in_docs"] if m == sent),
        "latency_ms": {"p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99),
                       "max": max(lat) if lat else None},
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
        for server in [s for s in servers if s.name in BIG_SERVERS]:
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
            log(f"big room {key}: p50 {fmt(lat['p50'], 2)} p99 {fmt(lat['p99'], 2)} ms, "
                f"lost {row['lost']} of {row['expected']}, server {row['server_cores']:.2f} cores, "
                f"clients {row['client_cores']:.2f} cores, awareness in/out "
                f"{row['server_received_awareness_frames_per_s']:.0f}/"
                f"{row['server_sent_awareness_frames_per_s']:.0f} frames/s, "
                f"closes {row['closes_during_window']}")
            time.sleep(2)
    return out


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
        providers = Providers(server, {"workload": "bigdoc", "doc": doc, "size": plan.bigdoc_size,
                                       "runs": plan.bigdoc_runs, "cold": cold}, server.bases[0])
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
        result.update({
            "paste_event": pasted, "unload_waits_s": waits, "server_cpu_s": cpu,
            "peak_rss_mib": sampler.peak / 2**20, "cpu_pressure_some": pressure,
            "loadavg_1min_before": load0,
            "warm_ms": median([r["ms"] for r in result["warm"]]),
            "cold_ms": median([r["ms"] for r in result["cold"]]) if result["cold"] else None,
            "all_complete": all(r["ok"] for r in result["warm"] + result["cold"]),
        })
        out[server.name] = result
        log(f"big document {server.name}: paste delivered in "
            f"{result['paste_delivered_ms']:.0f} ms, first sync {fmt(result['warm_ms'], 0)} ms "
            f"loaded, {fmt(result['cold_ms'], 0)} ms cold, "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB")
        settle(server)
    return out


# ---- report -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(data: dict[str, Any], servers: list[Server]) -> str:
    lines: list[str] = []
    labels = {s.name: s.label for s in servers}
    w = data["workloads"]
    p = data["plan"]
    for key, docs, seconds, runs in (
        ("fanout", p["fanout_docs"], p["fanout_seconds"], p["runs"]),
        ("fanout_issue_scale", p["issue_fanout_docs"], p["issue_fanout_seconds"], 1),
    ):
        if key not in w:
            continue
        lines.append(
            f"\nTyping fan-out: {docs} docs x ({p['fanout_readers']} readers + 1 writer), "
            f"{p['fanout_rate']:g} updates/s per writer, {seconds:g} s, "
            f"median of {runs} run(s)"
        )
        lines.append("| server | p50 ms | p99 ms | max ms | lost | CPU s | DB CPU s | peak RSS MiB "
                     "| p99 / y-websocket | p99 / bare relay |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for name, row in w[key]["summary"].items():
            lines.append(
                f"| {labels[name]} | {fmt(row['p50_ms'], 2)} | {fmt(row['p99_ms'], 2)} | {fmt(row['max_ms'])} "
                f"| {row['lost']} | {fmt(row['server_cpu_s'], 2)} | {fmt(row['db_cpu_s'], 2)} "
                f"| {fmt(row['peak_rss_mib'])} | {fmt(row.get('p99_vs_y-websocket'), 2)} "
                f"| {fmt(row.get('p99_vs_bare-relay'), 2)} |"
            )
    if "audience" in w:
        lines.append("\nAudience scaling: 1 writer at "
                     f"{data['plan']['audience_rate']:g} updates/s; p99 ms / CPU us per delivered update")
        sizes = data["plan"]["audience"]
        lines.append("| server | " + " | ".join(f"{n} readers" for n in sizes) + " |")
        lines.append("|---|" + "---|" * len(sizes))
        for name, rows in w["audience"].items():
            cells = [f"{fmt(rows[str(n)]['p99_ms'], 2)} / {fmt(rows[str(n)]['cpu_us_per_delivery'])}"
                     + (f" (lost {rows[str(n)]['lost']})" if rows[str(n)]["lost"] else "")
                     for n in sizes]
            lines.append(f"| {labels[name]} | " + " | ".join(cells) + " |")
    if "saturation" in w:
        lines.append("\nSaturation: highest total rate with p99 <= 100 ms and nothing lost "
                     f"({data['plan']['saturation_docs']} docs x {data['plan']['saturation_readers']} readers)")
        lines.append("| server | updates/s accepted | deliveries/s sent | first failing step |")
        lines.append("|---|---|---|---|")
        for name, row in w["saturation"].items():
            failed = [s for s in row["runs"][0]["steps"] if not s["ok"]]
            why = "-"
            if failed:
                f = failed[-1]
                why = f"{f['rate']}/s: p99 {fmt(f['latency_ms']['p99'])} ms, lost {f['lost']}"
            at_least = ">= " if row.get("capped_by_load_generator") else ""
            lines.append(f"| {labels[name]} | {at_least}{fmt(row['max_ok_updates_per_s'], 0)} "
                         f"| {fmt(row['max_ok_deliveries_per_s'], 0)} | {why} |")
    if "idle" in w:
        lines.append(f"\nIdle connections: {data['plan']['idle_connections']} on one server")
        lines.append("| server | KiB RSS per connection | seconds to connect all | open at end |")
        lines.append("|---|---|---|---|")
        for name, row in w["idle"].items():
            lines.append(f"| {labels[name]} | {fmt(row['kib_per_connection'])} "
                         f"| {fmt(row['connect_seconds'])} | {row['open_at_end']} |")
    if "cold" in w:
        lines.append("\nCold load (Tandem, 1 process): time from opening the socket to the full state")
        lines.append("| history (updates) | load ms | bytes |")
        lines.append("|---|---|---|")
        for key, row in w["cold"].items():
            lines.append(f"| {key} | {fmt(row['load_ms'])} | {fmt(row['bytes'], 0)} |")
    if "catchup" in w:
        lines.append(f"\nReconnect catch-up after {data['plan']['catchup_updates']} missed updates")
        lines.append("| server | catch-up ms | bytes received | converged | writer's updates relayed/s |")
        lines.append("|---|---|---|---|---|")
        for key, row in w["catchup"].items():
            base, _, variant = key.partition(" ")
            if "error" in row:
                lines.append(f"| {labels.get(base, base)} | failed: {row['error'].splitlines()[0][:160]} | | | |")
                continue
            lines.append(f"| {labels.get(base, base)} {variant} | {fmt(row['catchup_ms'])} "
                         f"| {fmt(row['bytes'], 0)} | {row['converged']} | {fmt(row['accepted_per_s'], 0)} |")
    if "bigroom" in w:
        lines.extend(report_bigroom(w["bigroom"], labels, p))
    if "bigdoc" in w:
        lines.extend(report_bigdoc(w["bigdoc"], labels, p))
    return "\n".join(lines)


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
        received = (f"{row['server_received_awareness_frames_per_s']:.0f} "
                    f"({row['server_received_awareness_entries_per_s']:.0f})")
        sent = (f"{row['server_sent_awareness_frames_per_s']:.0f} "
                f"({row['server_sent_awareness_entries_per_s']:.0f})")
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
        lines.append(f"| {label} | {fmt(row['paste_delivered_ms'], 0)} | {fmt(row['warm_ms'], 0)} "
                     f"| {fmt(row['cold_ms'], 0)} | {fmt(row['peak_rss_mib'], 0)} "
                     f"| {row.get('cpu_pressure_some', 0):.0%} |")
    return lines


# ---- main ---------------------------------------------------------------------------------


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


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "cpu": next((line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?"),
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
        "python": platform.python_version(),
        "node": subprocess.run([NODE_BIN, "--version"], capture_output=True, text=True).stdout.strip(),
        "loadavg_at_start": load,
    }


ALL_WORKLOADS = ["idle", "cold", "fanout", "audience", "saturation", "catchup", "bigroom",
                 "bigdoc"]  # and "profile"


def main() -> None:
    parser = argparse.ArgumentParser(description="Tandem's benchmark suite")
    parser.add_argument("--quick", action="store_true", help="a short pass (a couple of minutes)")
    parser.add_argument("--servers", help="comma-separated subset of server names")
    parser.add_argument("--workloads", help=f"comma-separated subset of {','.join(ALL_WORKLOADS)}")
    parser.add_argument("--output", default=str(RESULTS / "latest.json"))
    parser.add_argument("--bigroom-sizes", help="comma-separated editors per big room (100,500)")
    parser.add_argument("--profile-docs", type=int, default=10,
                        help="documents in the profiled fan-out (workload 'profile', not run by default)")
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
    servers = make_servers(selected)
    data: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "quick": args.quick,
        "machine": machine(),
        "tandem_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True).stdout.strip(),
        "tandem_worktree_dirty": bool(subprocess.run(
            ["git", "status", "--porcelain", "backend"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()),
        "plan": plan.__dict__,
        "servers": {s.name: s.label for s in servers},
        "clients": "light protocol-level clients in one Node process (load.mjs) that count and "
                   "time frames; writers are real Y.Docs; catch-up uses a full Y.Doc client; "
                   "bigroom and bigdoc use real editors (providers.mjs: y-websocket 3.1's "
                   "WebsocketProvider, @hocuspocus/provider 3.4.4 for Hocuspocus), awareness on",
        "workloads": {},
    }
    with running(servers):
        for server in servers:
            if server.style == "tandem":
                TOKENS[server.name] = fetch_token(server)
        w = data["workloads"]
        tandem = next((s for s in servers if s.name == "tandem"), None)
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("idle", lambda: workload_idle(servers, plan)),
            ("cold", lambda: workload_cold(tandem, plan) if tandem else {}),
            ("fanout", lambda: workload_fanout(servers, plan, docs_count=plan.fanout_docs,
                                               seconds=plan.fanout_seconds, runs_count=plan.runs)),
            # The replicas' backlog at ten times their capacity adds a minute and nothing new.
            ("fanout_issue_scale", lambda: workload_fanout(
                [s for s in servers if len(s.commands) == 1], plan, docs_count=plan.issue_fanout_docs,
                seconds=plan.issue_fanout_seconds, runs_count=1) if plan.issue_fanout_docs else {}),
            ("audience", lambda: workload_audience(servers, plan)),
            ("saturation", lambda: workload_saturation(servers, plan)),
            ("catchup", lambda: workload_catchup(servers, plan)),
            ("bigroom", lambda: workload_bigroom(servers, plan)),
            ("bigdoc", lambda: workload_bigdoc(servers, plan)),
            ("profile", lambda: {s.name: workload_profile(s, plan, args.profile_docs, 15)
                                 for s in servers if s.style == "tandem"}),
        ]
        for key, step in steps:
            if key.split("_")[0] not in workloads:
                continue
            try:
                result = step()
            except Exception as exc:  # one broken workload must not lose the others
                log(f"workload {key} failed: {exc}")
                data.setdefault("errors", {})[key] = str(exc)
                continue
            if result:
                w[key] = result
        data["server_crashes"] = CRASHES
    data["machine"]["loadavg_at_end"] = os.getloadavg()
    data["elapsed_s"] = time.monotonic() - started
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    table = report(data, servers)
    (out.with_suffix(".md")).write_text(table + "\n")
    print(table)
    log(f"wrote {out} ({data['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
