"""Experiment, not the product: Tandem with something patched in, measured by the same suite
before anyone edits backend/.

Runs ``python -m backend.serve`` after monkeypatching. ``harness/servers.py`` offers it as the
server ``tandem-stages`` (only when named with ``--servers``). Two earlier patches are gone:
``--no-frame-hop`` (skip Channels' per-frame ``aclose_old_connections()``; shipped in
``edge/base_consumer.py``) and ``--db-pool`` (database threads in a pool; the rooms' appends
have run on the event loop since, ``storage/pg_commit.py``), measured in docs/performance.md.

--stages        Change nothing; time the stages of each client update: *ingress* (from the
                bytes reaching uvicorn's protocol to ``Room.receive``), waiting in the room's
                queue (to its integration), integrating it, the append (``store.append``,
                the PostgreSQL commit), delivering it (``Room._deliver``: building the frame
                and writing it to every socket), and *resident*: from the bytes' arrival to
                the end of their delivery.
                Every 2 s, the [end time (epoch s), duration (s)] pairs each stage gained
                since are appended to ``$TANDEM_STAGES_FILE`` as one JSON line; tell runs
                apart by their times. Writing holds the GIL for a moment every 2 s (8,000
                new pairs at 100 documents): a tail measured through it includes that.
--batch-function-only
                Send every batch to ``collab_append_updates``, a batch of one write too:
                the append as it was before ``collab_append_update`` (migration
                ``collab.0005``), to compare the two inside one run.
--cursor        Run the event loop's statements (the commit's, admission's) through a
                psycopg cursor kept per connection, ``execute(prepare=True)`` then
                ``fetchall``, as before ``pg_wire``: to compare the two inside one run.
"""

from __future__ import annotations

import collections
import json
import os
import runpy
import sys
import threading
import time
from typing import Any


def time_stages(path: str) -> None:
    import django

    django.setup()
    from backend.collab.core.room import Room
    from backend.collab.edge.uvicorn_protocol import StallAbortingProtocol
    from backend.collab.storage.store import DjangoUpdateStore

    names = ("ingress", "queue", "integrate", "append", "deliver", "resident")
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    # Per room: (when its bytes arrived, when Room.receive got them) of each queued update,
    # then the arrival of each integrated one until it is delivered.
    arrived: dict[int, collections.deque[tuple[float, float]]] = collections.defaultdict(
        collections.deque
    )
    integrated: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
    clock = time.perf_counter

    def record(name: str, since: float) -> None:
        samples[name].append((time.time(), clock() - since))

    def timed(name: str, function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return function(*args, **kwargs)
            finally:
                record(name, t0)

        return call

    receive, append = Room.receive, DjangoUpdateStore.append
    integrate = timed("integrate", Room._apply_client_update)
    deliver = timed("deliver", Room._deliver)
    data_received = StallAbortingProtocol.data_received

    def stamped_data_received(self: Any, data: bytes) -> None:
        self.stage_arrived = clock()
        data_received(self, data)

    def stamped_receive(self: Room, peer: Any, frame: bytes) -> None:
        if frame[:2] == b"\x00\x02":  # a sync update: it goes through the room's queue
            now = clock()
            connection = getattr(peer.outbox, "_connection", None)  # a FrameWriter's
            bytes_arrived = getattr(connection, "stage_arrived", now)
            record("ingress", bytes_arrived)
            arrived[id(self)].append((bytes_arrived, now))
        receive(self, peer, frame)

    def waited_integrate(self: Room, write: Any) -> Any:
        if arrived[id(self)]:
            bytes_arrived, received = arrived[id(self)].popleft()
            record("queue", received)
            integrated[id(self)].append(bytes_arrived)
        return integrate(self, write)

    def timed_deliver(self: Room, *args: Any, **kwargs: Any) -> Any:
        deliver(self, *args, **kwargs)
        if kwargs.get("sender") is not None and integrated[id(self)]:
            record("resident", integrated[id(self)].popleft())

    async def timed_append(self: Any, *args: Any) -> Any:
        t0 = clock()
        try:
            return await append(self, *args)
        finally:
            record("append", t0)

    Room.receive = stamped_receive  # type: ignore[method-assign]
    Room._apply_client_update = waited_integrate  # type: ignore[method-assign]
    Room._deliver = timed_deliver  # type: ignore[method-assign]
    StallAbortingProtocol.data_received = stamped_data_received  # type: ignore[method-assign]
    DjangoUpdateStore.append = timed_append  # type: ignore[method-assign,assignment]

    def write_every_2_s() -> None:
        written = dict.fromkeys(samples, 0)
        while True:
            time.sleep(2)
            new = {name: pairs[written[name] :] for name, pairs in samples.items()}
            written = {name: written[name] + len(pairs) for name, pairs in new.items()}
            with open(path, "a") as file:
                file.write(json.dumps(new) + "\n")

    threading.Thread(target=write_every_2_s, daemon=True).start()


def batch_function_only() -> None:
    import django

    django.setup()
    from backend.collab.storage import pg_append

    pg_append._only_write = lambda batch: None


def cursor_statements() -> None:
    import django

    django.setup()
    from backend.collab.storage import pg_wire

    start = pg_wire.WireCalls.__init__

    def with_cursor(self: Any, conn: Any) -> None:
        start(self, conn)
        conn.prepare_threshold = 5  # as the loop's connections were opened: prepare=True works
        self.cursor = conn.cursor()  # one for the connection's life, as pg_loop kept it

    async def fetch_all(self: Any, sql: str, params: Any) -> Any:
        await self.cursor.execute(sql, params, prepare=True)
        return await self.cursor.fetchall()

    pg_wire.WireCalls.__init__ = with_cursor  # type: ignore[method-assign]
    pg_wire.WireCalls.fetch_all = fetch_all  # type: ignore[method-assign]


if __name__ == "__main__":
    flags = set(sys.argv[1:])
    if "--stages" in flags:
        time_stages(os.environ["TANDEM_STAGES_FILE"])
    if "--batch-function-only" in flags:
        batch_function_only()
    if "--cursor" in flags:
        cursor_statements()
    sys.argv = [sys.argv[0]]
    runpy.run_module("backend.serve", run_name="__main__", alter_sys=True)
