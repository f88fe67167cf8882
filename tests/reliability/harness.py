"""Shared pieces of the reliability scenarios: scale, seeds and figures (the typists they
break servers under are tests/support/typists.py).

Every scenario runs at two sizes: small in the regular suite (``make test``) and large under
``make chaos`` (``CHAOS=1``). ``CHAOS_SEED`` fixes the seed of every random choice; each
scenario prints the seed it used, so a failure replays with ``CHAOS_SEED=<seed>``.
Figures (trials, inputs, updates sent/acknowledged/lost, time to converge, memory) are
collected per scenario, printed at the end of the run and written to
``test-artifacts/reliability/figures-<suite|chaos>.json``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tests.support.servers import ROOT

CHAOS = os.environ.get("CHAOS", "") not in ("", "0")
MODE = "chaos" if CHAOS else "suite"
ARTIFACTS = ROOT / "test-artifacts" / "reliability"


def size(suite: int, chaos: int) -> int:
    """How many (trials, clients, inputs...) at this run's scale."""
    return chaos if CHAOS else suite


def seed_for(scenario: str) -> int:
    """The scenario's seed: ``CHAOS_SEED`` when set, else a fresh one. Always printed."""
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**31))
    print(f"[{scenario}] seed {seed} (replay: CHAOS_SEED={seed})")
    return seed


@dataclass
class Figures:
    scenario: str
    trials: int = 0
    inputs: int = 0
    sent: int = 0
    acked: int = 0
    lost: int = 0
    converge_seconds: float = 0.0  # the slowest trial
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    seed: int | None = None
    note: str = ""
    # Rooms of real providers: delivery delay of the writes, and connections closed.
    p50_ms: float | None = None
    p99_ms: float | None = None
    closes: int | None = None


RESULTS: list[Figures] = []


def record(figures: Figures) -> Figures:
    RESULTS.append(figures)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"figures-{MODE}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous[figures.scenario] = asdict(figures)
    path.write_text(json.dumps(previous, indent=2, sort_keys=True))
    return figures


def table(rows: Sequence[Figures]) -> str:
    header = (
        f"{'scenario':<34} {'trials':>6} {'inputs':>7} {'sent':>7} {'acked':>7} {'lost':>4} "
        f"{'converge s':>10} {'RSS kB before/after':>20}  seed"
    )
    lines = [header, "-" * len(header)]
    for f in rows:
        memory = f"{f.rss_before_kb}/{f.rss_after_kb}" if f.rss_before_kb else "-"
        lines.append(
            f"{f.scenario:<34} {f.trials:>6} {f.inputs:>7} {f.sent:>7} {f.acked:>7} {f.lost:>4} "
            f"{f.converge_seconds:>10.2f} {memory:>20}  {f.seed if f.seed is not None else '-'}"
        )
    return "\n".join(lines)


def markdown(rows: Sequence[Figures]) -> str:
    """The figures as docs/reliability.md's tables show them."""
    lines = [
        "| Scenario | Trials | Inputs tried | Updates sent | Acknowledged | Lost "
        "| Time to converge (s) | RSS before / after (kB) | Seed | Notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for f in rows:
        memory = f"{f.rss_before_kb:,} / {f.rss_after_kb:,}" if f.rss_before_kb else "-"
        converge = f"{f.converge_seconds:.2f}" if f.converge_seconds else "-"
        cells = [f.scenario, str(f.trials), *(str(n) if n else "-" for n in (f.inputs, f.sent))]
        cells += [str(f.acked) if f.acked else "-", str(f.lost), converge, memory]
        cells += [str(f.seed) if f.seed is not None else "-", f.note.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rng(seed: int) -> random.Random:
    return random.Random(seed)


if __name__ == "__main__":
    # python -m tests.reliability.harness [suite|chaos]: the last run's figures as markdown.
    import sys

    mode = sys.argv[1] if len(sys.argv) > 1 else MODE
    figures = json.loads((ARTIFACTS / f"figures-{mode}.json").read_text())
    print(markdown([Figures(**row) for row in figures.values()]))
