"""How large each workload runs: the full plan and the quick pass (``--quick``)."""

from __future__ import annotations

from dataclasses import dataclass


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
    # Fan-out with real editors (issue 15 target 10): rooms x editors, 1 typing at bigroom_rate.
    fanout_editors_docs: int = 10
    fanout_editors_per_doc: int = 10
    fanout_editors_seconds: float = 10
    fanout_editors_runs: int = 1
    # The capacity check (docs/scaling.md; run only when named): replicas on their own Redis,
    # docs x (1 typing + readers), as the model's 5 editors a document, 2 updates/s typing.
    capacity_replicas: int = 4
    capacity_docs: int = 8
    capacity_readers: int = 4
    capacity_rate: float = 2
    capacity_seconds: float = 20
    capacity_idle_seconds: float = 10


FULL = Plan(
    runs=3,
    fanout_docs=10,
    fanout_readers=9,
    fanout_rate=10,
    fanout_seconds=5,
    issue_fanout_docs=100,
    issue_fanout_seconds=30,  # issue 15: the full 30 s, not a 3 s burst
    audience=[10, 100, 1000],
    audience_rate=10,
    audience_seconds=2.5,
    audience_runs=1,
    saturation_docs=10,
    saturation_readers=4,
    saturation_rates=[100, 200, 400, 800, 1600, 3200, 6400],
    saturation_seconds=2,
    saturation_runs=1,
    idle_connections=10000,
    idle_docs=100,
    cold_sizes=[1000, 100_000, 1_000_000],
    cold_nosnap_sizes=[1000, 100_000],
    catchup_updates=10_000,
    catchup_rate=4000,
    catchup_replicas=False,
    bigroom_sizes=[100, 500],
    bigroom_seconds=20,
    bigdoc_size=20_000_000,
    bigdoc_runs=3,
)
QUICK = Plan(
    runs=1,
    fanout_docs=10,
    fanout_readers=9,
    fanout_rate=10,
    fanout_seconds=4,
    issue_fanout_docs=0,
    issue_fanout_seconds=0,
    audience=[100],
    audience_rate=10,
    audience_seconds=3,
    audience_runs=1,
    saturation_docs=10,
    saturation_readers=4,
    saturation_rates=[100, 400, 1600, 6400],
    saturation_seconds=2,
    saturation_runs=1,
    idle_connections=300,
    idle_docs=10,
    cold_sizes=[1000, 100_000],
    cold_nosnap_sizes=[1000],
    catchup_updates=1000,
    catchup_rate=1000,
    bigroom_sizes=[100],
    bigroom_seconds=8,
    fanout_editors_seconds=5,
    bigdoc_size=2_000_000,
    bigdoc_runs=1,
)
