"""``collab_append_updates``: the common append on PostgreSQL as one server-side function.

``storage.pg_append`` sent two statements per commit (lock, then judge-number-insert-raise)
in one pipeline; as one call the commit is one statement for psycopg to send and PostgreSQL
to execute: a one-document commit took 0.63-0.86 -> 0.51-0.71 ms back to back and 2.1 ->
1.7-1.8 ms when commits are 10 ms apart (p50, bench machine, docs/performance.md).

The two statements stay two inside the function, in this order: under READ COMMITTED each
statement of a VOLATILE function reads a snapshot taken when it starts, so the second one
judges authors by the roles committed once the first holds the document rows' locks (a role
change takes the same lock: ``documents.services``). One statement would read memberships
as of before it waited.

The SQL is built here from the models as they are at this migration. A later change to a
column it names needs a migration that replaces the function. SQLite has no such functions:
there ``update_log`` appends statement by statement.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

from backend.collab.migrations._append_sql import append_names, postgresql_function


def _function(apps: Any, schema_editor: Any) -> str:
    n = append_names(apps, schema_editor)
    # The rule of ``permissions.role_from`` for "may edit": an author of no account (REST
    # restores, system writes) may; else an active account that owns the document or is a
    # member with an editing role (``p_editing``). A deleted account is as inactive.
    return f"""
CREATE FUNCTION collab_append_updates(
    p_entries integer[], p_documents uuid[], p_bodies bytea[], p_authors bigint[],
    p_editing text[], p_now timestamptz, p_ids uuid[]
) RETURNS TABLE (o_entry integer, o_document uuid, o_count bigint, o_refused bigint[])
LANGUAGE plpgsql VOLATILE AS $body$
BEGIN
    -- Lock the documents in key order (batches of several processes cannot deadlock);
    -- one row per document found: its head.
    RETURN QUERY SELECT NULL::integer, d.{n.doc_id}, d.{n.head}, NULL::bigint[]
        FROM {n.doc} AS d WHERE d.{n.doc_id} = ANY(p_ids) ORDER BY d.{n.doc_id} FOR UPDATE;
    -- Judge each write, number the allowed ones per document after its head, store them,
    -- raise the heads; one row per batch entry: how many kept, which authors refused.
    RETURN QUERY WITH w AS (
        SELECT * FROM unnest(p_entries, p_documents, p_bodies, p_authors)
            WITH ORDINALITY AS w(entry, document, body, author, n)
    ), judged AS (
        SELECT w.entry, w.document, w.body, w.author, w.n, d.{n.head} AS head,
            coalesce(w.author IS NULL OR (u.{n.is_active}
                AND (d.{n.owner} = w.author
                    OR m.{n.role} = ANY(p_editing))),
                false) AS allowed  -- no account or no membership: NULL, so refused
        FROM w JOIN {n.doc} AS d ON d.{n.doc_id} = w.document
        LEFT JOIN {n.users} AS u ON u.{n.user_id} = w.author
        LEFT JOIN {n.members} AS m ON m.{n.member_document} = w.document
            AND m.{n.member_user} = w.author
    ), numbered AS (
        SELECT judged.document, judged.body, judged.author,
            judged.head + row_number() OVER (PARTITION BY judged.document ORDER BY judged.n)
                AS seq
        FROM judged WHERE judged.allowed
    ), stored AS (
        INSERT INTO {n.upd} ({n.columns})
        SELECT numbered.document, numbered.seq, numbered.body, numbered.author, p_now
        FROM numbered
    ), raised AS (
        UPDATE {n.doc} AS d SET {n.head} = d.{n.head} + k.kept,
            {n.updated_at} = p_now
        FROM (
            SELECT i.id, count(numbered.document) AS kept FROM unnest(p_ids) AS i(id)
            LEFT JOIN numbered ON numbered.document = i.id GROUP BY i.id
        ) AS k
        WHERE d.{n.doc_id} = k.id
    )
    SELECT judged.entry, NULL::uuid, count(*) FILTER (WHERE judged.allowed),
        coalesce(array_agg(DISTINCT judged.author) FILTER (WHERE NOT judged.allowed), '{{}}')
    FROM judged GROUP BY judged.entry;
END
$body$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("collab", "0003_document_indexed_by_seq_only"),
        ("documents", "0003_accountstate"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        postgresql_function(
            _function,
            "DROP FUNCTION collab_append_updates"
            "(integer[], uuid[], bytea[], bigint[], text[], timestamptz, uuid[])",
        )
    ]
