"""A ``hello`` from a seq whose rows the update log's retention deleted: the replay alone
(the client drops sync step 2) still makes the client converge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backend.collab.models import DocumentUpdate
from backend.collab.storage import retention
from tests.collab.test_replay import _left_behind, _resume, _typed
from tests.support.scene import Scene


@pytest.mark.parametrize("missed", [10, 60])  # row by row, and joined (REPLAY_JOIN_AFTER 32)
async def test_a_hello_below_the_retention_cut_converges_by_the_replay_alone(
    scene: Scene, db_call: Any, missed: int
) -> None:
    writer, follower, since = await _left_behind(scene)
    head = await _typed(scene, db_call, writer, missed)
    document_id = scene.document.pk

    def compact() -> Any:
        old = timezone.now() - timedelta(days=3)
        rows = DocumentUpdate.objects.filter(document_id=document_id, seq__lte=since + 5)
        rows.update(created_at=old)
        cut = timezone.now() - timedelta(days=1)
        return retention.document_compact(document_id=document_id, cut=cut)

    done = await db_call(compact)
    assert done.through == since + 5
    resumed = await _resume(scene, follower.doc, since)
    await resumed.wait_for(lambda: resumed.head == head)
    await resumed.wait_text(writer.text())
