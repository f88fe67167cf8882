"""Typing histories for the cold-load workload, written straight into Tandem's tables.

The Yjs updates are encoded by hand; tests/bench/test_history.py checks them against pycrdt."""

from __future__ import annotations

import time
from collections.abc import Iterator

from .database import bench_user


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
    return (
        b"\x01\x01"
        + _var_uint(client)
        + b"\x00\x04\x01"
        + _var_string(name)
        + _var_string(text)
        + b"\x00"
    )


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
