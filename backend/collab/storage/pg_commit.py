"""The group commit's appends on PostgreSQL, run on the event loop over psycopg's async
connections: no thread between a room and its commit.

The rooms' commits went through a thread of their own (``sync_to_async`` with Django's
connection). At 100 busy documents on the 2-core bench machine the hop cost a third of each
commit: 0.23 ms (p99 1.1 ms) to start on the thread, which waits for the GIL the event loop
holds, and 0.1 ms back. With one commit running at a time that made the committer busy
three quarters of the time, and a room's update waited for the commit before its own:
fan-out p99 12.8-15.1 ms. On the loop, prepared and with one plan (``ONE_PLAN``), the fan-out's
p99 was 4.7-5.2 ms, and the server's CPU a fifth less (docs/performance.md).

The statement and its reading are ``pg_append``'s (one round trip, prepared); a batch
with mentions still goes to the thread, where ``update_log`` sends their signal in the
transaction. Each commit takes an idle connection of ``pg_loop`` or opens one:
``GroupCommit`` runs at most ``COMMIT_CONNECTIONS`` at once, so that many are open at most.
A connection that failed, or whose commit was cancelled, is closed: whether that commit
happened is not known, and the room that waited on it closes its sockets (1013) so its
clients resync from the log.
"""

from __future__ import annotations

from backend.collab.core.ports import Appended
from backend.collab.storage import pg_append
from backend.collab.storage.group_commit import Batch
from backend.collab.storage.pg_loop import LoopConnections

# One plan per connection for the append function's statements: PostgreSQL's default
# planned the judging one afresh at every commit (0.2 ms of 0.8; large batches as fast).
ONE_PLAN = "SET plan_cache_mode = force_generic_plan"


class LoopCommits:
    """``pg_append.append_batch`` as a coroutine, for ``GroupCommit``."""

    def __init__(self) -> None:
        self._connections = LoopConnections(setup=ONE_PLAN, warm=pg_append.warm_statements())

    def open_soon(self) -> None:
        """Open (and warm) a commit connection now, ahead of the first commit."""
        self._connections.open_soon()

    async def __call__(self, batch: Batch) -> list[Appended | None]:
        sql, params = pg_append.statement_for(batch)
        rows = await self._connections.fetch_all(sql, params)
        return pg_append.appended_from(batch, rows)

    async def close(self) -> None:
        """Close the idle connections (a commit still running closes its own as it ends)."""
        await self._connections.close()
