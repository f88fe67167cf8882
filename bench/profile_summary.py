"""Summarise py-spy's raw (collapsed) output: the hottest functions by own and total samples.

Usage: python bench/profile_summary.py PROFILE.txt [--top 25]
Prints the share of samples per thread kind, and for each function the share of samples it
was on the stack (total) and on top of it (own), so the table in docs/performance.md can be
regenerated from a profile.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path


def frame_name(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``; strips line numbers."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    func, path = match.groups()
    parts = path.split("/")
    short = (
        "/".join(parts[-2:])
        if "site-packages" not in path
        else "/".join(parts[parts.index("site-packages") + 1 :][:2] + parts[-1:])
        if len(parts) > 2
        else path
    )
    return f"{func} ({short})"


def summarize(path: Path, top: int) -> str:
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = stack.split(";")
        # py-spy's raw format starts each stack at its thread's root frame.
        thread = (
            "event loop (main thread)"
            if "runpy" in raw_frames[0]
            else (
                "database thread (sync_to_async)"
                if any("SyncToAsync" in f for f in raw_frames)
                else "other threads"
            )
        )
        frames = [frame_name(f) for f in raw_frames]
        samples += count
        threads[thread] += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    lines = [f"{samples} samples"]
    lines.append("\nby thread:")
    for thread, n in threads.most_common():
        lines.append(f"  {100 * n / samples:5.1f}%  {thread}")
    lines.append("\nown (top of stack):")
    for name, n in own.most_common(top):
        lines.append(f"  {100 * n / samples:5.1f}%  {name}")
    lines.append("\ntotal (anywhere on the stack):")
    for name, n in total.most_common(top):
        lines.append(f"  {100 * n / samples:5.1f}%  {name}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarize(args.profile, args.top))
