"""Tandem's database for the bench: created and migrated, the bench user, the run's documents."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from .config import BENCH_PASSWORD, BENCH_USER, DB_NAME, PG_ADMIN, PROJECT_PY, ROOT, TANDEM_ENV


def prepare_database() -> None:
    names = subprocess.run(
        ["psql", PG_ADMIN, "-Atc", "select datname from pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    if DB_NAME not in names:
        subprocess.run(["psql", PG_ADMIN, "-qc", f'create database "{DB_NAME}"'], check=True)
    subprocess.run(
        [str(PROJECT_PY), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **TANDEM_ENV},
        check=True,
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
