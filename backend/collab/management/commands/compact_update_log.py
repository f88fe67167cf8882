"""``python manage.py compact_update_log``: apply UPDATE_LOG_RETENTION_DAYS to the update log."""

from __future__ import annotations

import time
from argparse import ArgumentTypeError
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backend.collab.storage import retention


def _shard(value: str) -> retention.Shard:
    index, _, count = value.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not INDEX/COUNT, e.g. 0/4") from None
    if not 0 <= shard[0] < shard[1]:
        raise ArgumentTypeError(f"{value!r}: INDEX must be from 0 to COUNT-1")
    return shard


class Command(BaseCommand):
    help = (
        "Fold update-log rows older than UPDATE_LOG_RETENTION_DAYS into snapshots and delete "
        "them. Safe while the servers run and to run again; does nothing when retention is 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Override UPDATE_LOG_RETENTION_DAYS for this run (0: keep every row).",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=retention.DELETE_BATCH,
            help="Rows per DELETE transaction.",
        )
        parser.add_argument(
            "--shard",
            type=_shard,
            default=(0, 1),
            metavar="INDEX/COUNT",
            help=(
                "Compact only the documents whose id modulo COUNT is INDEX: run COUNT "
                "processes, INDEX 0 to COUNT-1, to share a run."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = (
            int(settings.UPDATE_LOG_RETENTION_DAYS) if options["days"] is None else options["days"]
        )
        if days < 0 or options["batch"] < 1:
            raise CommandError("--days must be 0 or more and --batch 1 or more.")
        if days == 0:
            self.stdout.write("UPDATE_LOG_RETENTION_DAYS is 0: every update is kept.")
            return
        cut = timezone.now() - timedelta(days=days)
        started = time.monotonic()
        done = retention.compact_due(cut=cut, batch=options["batch"], shard=options["shard"])
        seconds = time.monotonic() - started
        deleted = sum(c.deleted for c in done.compacted)
        built = sum(c.snapshot_built for c in done.compacted)
        self.stdout.write(
            f"compacted {len(done.compacted)} documents: {deleted} rows older than "
            f"{cut.isoformat()} deleted, {built} snapshots built, in {seconds:.1f}s"
        )
        if done.failed:
            raise CommandError(
                f"{len(done.failed)} documents could not be compacted (logged above; their "
                "rows stay until a run succeeds): " + ", ".join(map(str, done.failed[:10]))
            )
