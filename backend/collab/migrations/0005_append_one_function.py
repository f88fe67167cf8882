"""``collab_append_update``: the append of a batch of one write, the common commit.

A typing editor's commit holds one write most of the time (in the bench's fan-outs, 60 %
of the commits). ``collab_append_updates`` takes any batch: unnesting
its arrays, numbering with a window and grouping per entry cost PostgreSQL more than the
lock, the judging and the insert together. For one write this function does the same steps
with one row each: 1.83 -> 1.55 ms p50 when commits are 10 ms apart, 0.78 -> 0.57 ms back
to back (bench machine, docs/performance.md).

Lock first, judge after, as ``collab_append_updates`` does and for the same reason: under
READ COMMITTED each statement of a VOLATILE function reads a snapshot taken when it starts,
so the judging reads the roles committed once the document row's lock is held (a role
change takes the same lock: ``documents.services``).

The SQL is built here from the models as they are at this migration, as in ``collab.0004``.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from backend.collab.migrations._append_sql import append_names, postgresql_function


def _function(apps: Any, schema_editor: Any) -> str:
    n = append_names(apps, schema_editor)
    # The rule of ``permissions.role_from`` for "may edit", as in ``collab.0004``: an author
    # of no account may; else an active account that owns the document or is a member with
    # an editing role (``p_editing``). A deleted account (no row) may not.
    return f"""
CREATE FUNCTION collab_append_update(
    p_document uuid, p_body bytea, p_author bigint, p_editing text[], p_now timestamptz
) RETURNS TABLE (o_head bigint, o_allowed boolean)
LANGUAGE plpgsql VOLATILE AS $body$
DECLARE
    v_head bigint;
    v_owner bigint;
BEGIN
    SELECT d.{n.head}, d.{n.owner} INTO v_head, v_owner
        FROM {n.doc} AS d WHERE d.{n.doc_id} = p_document FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- no row: the document is gone
    END IF;
    o_head := v_head;
    o_allowed := p_author IS NULL OR coalesce((
        SELECT u.{n.is_active}
            AND (v_owner = p_author OR m.{n.role} = ANY(p_editing))
        FROM {n.users} AS u
        LEFT JOIN {n.members} AS m ON m.{n.member_document} = p_document
            AND m.{n.member_user} = u.{n.user_id}
        WHERE u.{n.user_id} = p_author
    ), false);
    IF o_allowed THEN
        INSERT INTO {n.upd} ({n.columns}) VALUES (p_document, v_head + 1, p_body, p_author, p_now);
        UPDATE {n.doc} SET {n.head} = v_head + 1, {n.updated_at} = p_now
            WHERE {n.doc_id} = p_document;
    END IF;
    RETURN NEXT;
END
$body$
"""


class Migration(migrations.Migration):
    dependencies = [("collab", "0004_append_function")]

    operations = [
        postgresql_function(
            _function,
            "DROP FUNCTION collab_append_update(uuid, bytea, bigint, text[], timestamptz)",
        )
    ]
