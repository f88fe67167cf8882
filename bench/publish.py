"""Publish a bench run: ``python bench/publish.py NAME [--source bench/results/latest.json]``
copies the run's JSON and tables to bench/results/published/NAME.json and NAME.md, and
refuses (exit status 1, the reasons on stderr) when PostgreSQL ran with ``fsync`` or
``synchronous_commit`` off, when backend/ had uncommitted changes during the run, or when
backend/ at HEAD is not the code the run measured. ``bench/run.py --publish NAME`` does the
same at the end of a run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.config import RESULTS
from harness.publish import PublishRefused, publish


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish a bench run")
    parser.add_argument("name", help="the published files' name, e.g. full-2026-12-02")
    parser.add_argument("--source", default=str(RESULTS / "latest.json"))
    args = parser.parse_args()
    source = Path(args.source)
    try:
        written = publish(source, args.name, json.loads(source.read_text()))
    except PublishRefused as exc:
        sys.exit(f"error: {exc}")  # exit status 1
    print("published " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
