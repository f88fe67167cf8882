"""One open document in one process: the authoritative pycrdt Doc and its connections.

The room is transport-free: it serves anything that fits ``Peer`` and persists through an
``UpdateStore``; cross-replica traffic goes through an optional ``Fanout``. One asyncio task
(the worker) owns the Doc: every write, every read of document state for a client, and every
update from another replica passes through its queue, in order. Writes that arrive together
are committed in one transaction (group commit) and only then broadcast and acknowledged, so
whatever a client receives is already durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from backend.collab.core import mentions, protocol
from backend.collab.core.awareness import AwarenessStates, with_user_name
from backend.collab.core.close_codes import CloseCode
from backend.collab.core.integration import (
    TooMuchWaiting,
    doc_from_log,
    integrate,
    integrate_committed,
    replay_update,
    snapshot_state,
)
from backend.collab.core.mentions import Mention
from backend.collab.core.ports import (
    Access,
    Fanout,
    LoadedLog,
    Peer,
    PendingWrite,
    RoomMetrics,
    StoredUpdate,
    UpdateStore,
)
from backend.documents.errors import DocumentNotFound

logger = logging.getLogger(__name__)

VIEWER_DENIED = "read-only: you are a viewer of this document"

# How many of the awareness frames a room relayed last it recognises echoes of (by their
# bytes): echoes arriving within four ticks, 200 ms in a small room (whose echoes are short
# anyway) and 2 s at 500 connections. A later echo is parsed, as any other frame.
ECHOED_FRAMES = 4
_AWARENESS = bytes([protocol.MessageType.AWARENESS])


@dataclass(frozen=True)
class RoomLimits:
    snapshot_every: int = 500
    max_awareness_state: int = 64 * 1024
    max_awareness_clients: int = 8  # client ids one connection may own
    # Awareness is relayed at most once per tick, coalesced (the latest entry per client):
    # every frame a standard client hears it echoes back, so a room of N people moving
    # cursors would otherwise send the server N echoes per cursor move. The tick grows
    # past 50 connections (see Room.awareness_tick).
    awareness_tick: float = 0.05
    max_batch: int = 256
    # Parts of clients' updates that may wait for updates the room has not received (a
    # reconnect's sync step 2 can, briefly); beyond, such an update is refused with 4429.
    max_waiting: int = 256  # ROOM_MAX_WAITING_UPDATES
    # A document's stored size (its latest snapshot and the updates after it); an update
    # that would pass it is refused with 4413 and not stored.
    max_document_bytes: int = 128 * 1024 * 1024  # DOCUMENT_MAX_BYTES


@dataclass
class Connection:
    peer: Peer
    tandem: bool = False
    denied: bool = False


@dataclass
class _Write:
    conn: Connection
    update: bytes
    mentions: tuple[Mention, ...] = ()  # what it added, once applied


@dataclass(frozen=True)
class _Call:
    """Run ``action`` on the worker, between write batches (the Doc equals the log)."""

    action: Callable[[], object]


@dataclass(frozen=True)
class _Remote:
    seq: int
    update: bytes | None  # None: only a hint that the head moved (check the log)


_Op = _Write | _Call | _Remote


class Room:
    def __init__(
        self,
        document_id: uuid.UUID,
        *,
        store: UpdateStore,
        fanout: Fanout | None = None,
        limits: RoomLimits | None = None,
        on_dead: Callable[[Room], None] | None = None,
        metrics: RoomMetrics | None = None,
    ) -> None:
        self.document_id = document_id
        self.store = store
        self.fanout = fanout
        self.limits = limits or RoomLimits()
        self.on_dead = on_dead
        self.metrics = metrics or RoomMetrics()
        self.doc: Doc[Any] = Doc()
        self.head = 0
        self.snapshot_seq = 0
        self.stored_bytes = 0  # the snapshot and the updates after it
        self.connections: dict[Peer, Connection] = {}
        self.awareness = AwarenessStates()
        self.dead = False
        self._queue: asyncio.Queue[_Op] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._waiting: list[bytes] = []  # parts of stored updates the Doc cannot integrate yet
        self._awareness_out: dict[int, protocol.AwarenessEntry] = {}  # to this room's clients
        self._awareness_publish: dict[int, protocol.AwarenessEntry] = {}  # to other replicas
        self._awareness_timer: asyncio.TimerHandle | None = None
        self._awareness_sent_at = float("-inf")
        self._awareness_sent: deque[protocol.SentAwareness] = deque(maxlen=ECHOED_FRAMES)

    # --- lifecycle -----------------------------------------------------------------------

    async def load(self) -> None:
        log = await self.store.load(self.document_id)
        self._install(log)
        self.head = log.head
        self._worker = asyncio.create_task(self._work(), name=f"room {self.document_id}")

    async def flush(self) -> None:
        """Wait until everything queued so far is committed and delivered."""
        if self._worker is None or self._worker.done():
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Call(lambda: None if done.done() else done.set_result(None)))
        await asyncio.wait({done, self._worker}, return_when=asyncio.FIRST_COMPLETED)

    async def close(self) -> None:
        """Flush, store a final snapshot, stop the worker."""
        await self.flush()
        self._stop_awareness()
        if not self.dead and self.head > self.snapshot_seq:
            await self._snapshot()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # --- connections ---------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        conn = Connection(peer)
        self.connections[peer] = conn
        self._queue.put_nowait(_Call(lambda: self._greet(conn)))

    def leave(self, peer: Peer) -> None:
        if self.connections.pop(peer, None) is not None:
            self._relay_awareness(self.awareness.release(peer))

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one frame from ``peer``; a malformed one closes that peer with 4400."""
        conn = self.connections.get(peer)
        if conn is None or self.dead:
            return
        if frame[:1] == _AWARENESS and self._is_echo(peer, frame):
            self.metrics.awareness_echo()
            return
        try:
            message = protocol.parse(
                frame,
                max_awareness_state=self.limits.max_awareness_state,
                held=self.awareness.entry,
            )
        except protocol.MalformedMessage as exc:
            logger.info("closing a connection to %s: %s", self.document_id, exc)
            self.metrics.rejected("malformed")
            peer.close(CloseCode.MALFORMED)
            return
        self._dispatch(conn, message)

    def _is_echo(self, peer: Peer, frame: bytes) -> bool:
        """Whether ``frame`` is a standard client's echo of a frame this room relayed lately.

        Every relayed frame comes back from each standard client (``SentAwareness``), so a
        room of N hears N echoes a tick, each carrying nearly every entry of the tick: a
        room of 500 hears some 250,000 entries a second. Recognising the echo by its bytes
        costs one comparison instead of decoding each entry; nothing in it is news, so
        dropping it changes nothing that parsing it would (docs/protocol.md)."""
        if not self._awareness_sent:
            return False
        own = self.awareness.owned_by(peer)
        return any(sent.is_echo(frame, own) for sent in reversed(self._awareness_sent))

    def _dispatch(self, conn: Connection, message: protocol.Message) -> None:
        if isinstance(message, protocol.SyncUpdate):
            if conn.peer.can_write:
                self._queue.put_nowait(_Write(conn, message.update))
                return
            if message.update == protocol.EMPTY_UPDATE:
                return  # a viewer's sync step 2 that carries nothing is no write attempt
            self._deny(conn)
        elif isinstance(message, protocol.SyncStep1):
            state_vector = message.state_vector
            self._queue.put_nowait(_Call(lambda: self._answer_step1(conn, state_vector)))
        elif isinstance(message, protocol.AwarenessUpdate):
            self._receive_awareness(conn, message)
        elif isinstance(message, protocol.QueryAwareness):
            conn.peer.send(protocol.awareness(self.awareness.present()))
        elif isinstance(message, protocol.Hello):
            since = message.since
            self._queue.put_nowait(_Call(lambda: self._start_replay(conn, since)))

    def apply_access(self, access: Access, *, as_of: float) -> None:
        """Re-check open connections: revoked access closes, a changed role applies now.

        ``as_of`` is when the snapshot's queries began. A connection admitted after that
        may have seen newer grants than the snapshot holds (or is missing from it): the
        next check judges it."""
        for conn in list(self.connections.values()):
            user_id = conn.peer.user_id
            if (
                user_id is None
                or conn.peer.admitted_at >= as_of
                or user_id not in access.generations
            ):
                continue
            can_write = access.can_write.get(user_id)
            if access.generations.get(user_id, 0) != conn.peer.token_generation:
                conn.peer.close(CloseCode.UNAUTHENTICATED)
            elif user_id in access.inactive:
                conn.peer.close(CloseCode.FORBIDDEN)
            elif can_write is None:
                conn.peer.close(CloseCode.NOT_FOUND)
            elif can_write:
                conn.peer.can_write, conn.denied = True, False
            elif conn.peer.can_write:
                self._make_read_only(conn)  # demoted: told now, not at its next write

    @property
    def user_ids(self) -> set[int]:
        return {c.peer.user_id for c in self.connections.values() if c.peer.user_id is not None}

    # --- from other processes ------------------------------------------------------------

    def remote_update(self, seq: int, update: bytes | None) -> None:
        """A committed update (or a head hint) from another process or the REST API."""
        if not self.dead:
            self._queue.put_nowait(_Remote(seq, update))

    def remote_awareness(self, frame: bytes, *, replica: str, users: dict[int, int | None]) -> None:
        """Awareness entries another replica accepted from the connections owning them."""
        try:
            message = protocol.parse(frame, max_awareness_state=self.limits.max_awareness_state)
        except protocol.MalformedMessage:
            logger.warning("dropped a malformed awareness frame from another replica")
            return
        if isinstance(message, protocol.AwarenessUpdate):
            accepted = self.awareness.apply_remote(replica, message.entries, users)
            self._relay_awareness(accepted, publish=False)

    def expire_awareness(self) -> None:
        """Drop other replicas' states gone unrenewed (their replica died, or its removal
        was lost on the channel layer), as every client does after 30 s."""
        self._relay_awareness(self.awareness.expire(), publish=False)

    # --- awareness -----------------------------------------------------------------------

    def _receive_awareness(self, conn: Connection, message: protocol.AwarenessUpdate) -> None:
        peer = conn.peer
        claim = self.awareness.claim(
            peer,
            peer.user_id,
            message.entries,
            max_owned=self.limits.max_awareness_clients,
            stamp=lambda entry: with_user_name(entry, peer.username),
        )
        self._relay_awareness(claim.accepted)
        if claim.over_limit:
            self.metrics.rejected("awareness_clients")
            peer.close(CloseCode.MALFORMED)

    def _relay_awareness(
        self, entries: list[protocol.AwarenessEntry], *, publish: bool = True
    ) -> None:
        """Queue accepted entries for every connection, the sender's included (as
        y-websocket's server does: a lone client's own renewals are what keep its idle
        socket alive, since y-websocket reconnects after 30 s without a message), and, when
        ``publish``, for the other replicas. Sent at most once per ``awareness_tick``."""
        if not entries or self.dead:
            return
        for entry in entries:
            self._awareness_out[entry.client_id] = entry
            if publish and self.fanout is not None:
                self._awareness_publish[entry.client_id] = entry
        if self._awareness_timer is None:
            loop = asyncio.get_running_loop()
            due = self._awareness_sent_at + self.awareness_tick
            self._awareness_timer = loop.call_later(
                max(0.0, due - loop.time()), self._flush_awareness
            )

    @property
    def awareness_tick(self) -> float:
        """``awareness_tick``, longer past 50 connections: every relayed frame comes back
        as one echo from each standard client, so a room of N receives N echoes a tick; this
        holds a room's echoes near 1,000 frames a second (at 50 ms) whatever its size."""
        return self.limits.awareness_tick * max(1.0, len(self.connections) / 50)

    def _flush_awareness(self) -> None:
        self._awareness_timer = None
        self._awareness_sent_at = asyncio.get_running_loop().time()
        out, self._awareness_out = list(self._awareness_out.values()), {}
        if out:
            sent = protocol.SentAwareness.of(out)
            self._awareness_sent.append(sent)
            frame = sent.frame
            for conn in list(self.connections.values()):
                conn.peer.send(frame)
        published, self._awareness_publish = list(self._awareness_publish.values()), {}
        if published and self.fanout is not None:
            users = {
                entry.client_id: self.awareness.user_of(entry.client_id) for entry in published
            }
            self.fanout.publish_awareness(self.document_id, protocol.awareness(published), users)

    def _stop_awareness(self) -> None:
        if self._awareness_timer is not None:
            self._awareness_timer.cancel()
            self._awareness_timer = None

    # --- the worker ----------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < self.limits.max_batch:
                batch.append(self._queue.get_nowait())
            try:
                await self._process(batch)
            except asyncio.CancelledError:
                raise
            except DocumentNotFound:
                self._die(CloseCode.NOT_FOUND, "the document was deleted")
                return
            except Exception:
                logger.exception("room %s cannot commit; closing it", self.document_id)
                self._die(CloseCode.TRY_AGAIN_LATER, "storage failed")
                return

    async def _process(self, batch: list[_Op]) -> None:
        writes: list[_Write] = []
        for op in batch:
            if isinstance(op, _Write):
                writes.append(op)
                continue
            await self._commit(writes)
            writes = []
            if isinstance(op, _Call):
                result = op.action()
                if asyncio.iscoroutine(result):
                    await result
            else:
                await self._apply_remote(op)
        await self._commit(writes)

    async def _commit(self, writes: list[_Write]) -> None:
        if not writes:
            return
        outcomes = [self._apply_client_update(write) for write in writes]
        durable = [w for w, changed in zip(writes, outcomes, strict=True) if changed]
        refused: frozenset[int] = frozenset()
        if durable:
            with self.metrics.commit_timer():
                appended = await self.store.append(
                    self.document_id,
                    [PendingWrite(w.update, w.conn.peer.user_id, w.mentions) for w in durable],
                )
            if refused := appended.refused:
                outcomes = [
                    None if changed and w.conn.peer.user_id in refused else changed
                    for w, changed in zip(writes, outcomes, strict=True)
                ]
                durable = [w for w in durable if w.conn.peer.user_id not in refused]
            self.metrics.accepted(len(durable))
            if appended.previous > self.head:
                await self._catch_up(appended.previous)
            self.head = appended.previous + len(durable)
        seq = self.head - len(durable)
        for write, changed in zip(writes, outcomes, strict=True):
            if changed:
                seq += 1
                self._deliver(seq, write.update, sender=write.conn)
            if write.conn.tandem and changed is not None:
                write.conn.peer.send(protocol.tandem_ack(seq if changed else self.head))
        if refused:
            await self._refuse(refused)
        if self.head - self.snapshot_seq >= self.limits.snapshot_every:
            await self._snapshot()

    async def _refuse(self, user_ids: frozenset[int]) -> None:
        """The store refused these users' writes (their role changed before the commit):
        they write no more here, and the Doc, which had taken their writes, is rebuilt
        from the log. Their sockets close or turn read-only at the access re-check."""
        for conn in self.connections.values():
            if conn.peer.user_id in user_ids:
                self._deny(conn)
        log = await self.store.load(self.document_id)
        self._install(log)
        if log.head > self.head:  # committed elsewhere meanwhile: in the Doc, not yet sent
            for row in await self.store.updates_after(self.document_id, self.head, log.head):
                self.head = row.seq
                self._deliver(row.seq, row.update, sender=None, publish=False)

    def _deny(self, conn: Connection) -> None:
        """Refuse a write: this connection may not (or no longer) write."""
        self.metrics.rejected("viewer")
        self._make_read_only(conn)

    def _make_read_only(self, conn: Connection) -> None:
        """Writes from now on are refused; the client is told once (y-websocket's
        permission-denied message), when it tries to write or when its role drops."""
        conn.peer.can_write = False
        if not conn.denied:
            conn.denied = True
            conn.peer.send(protocol.permission_denied(VIEWER_DENIED))

    def _apply_client_update(self, write: _Write) -> bool | None:
        """True: applied; False: changed nothing; None: rejected (the peer is closed, or
        it lost the right to write after this write was queued)."""
        if not write.conn.peer.can_write:
            return None
        if self.stored_bytes + len(write.update) > self.limits.max_document_bytes:
            logger.info(
                "refused a %d-byte update to %s: the document would pass DOCUMENT_MAX_BYTES",
                len(write.update),
                self.document_id,
            )
            self.metrics.rejected("document_too_large")
            limit = self.limits.max_document_bytes
            write.conn.peer.close(
                CloseCode.TOO_LARGE_TO_SAVE, f"document size limit of {limit} bytes"
            )
            return None
        try:
            # For an update that cannot add a mention (a keystroke), a byte search only.
            with mentions.Watch(self.doc, write.update) as watch:
                store, self._waiting = integrate(
                    self.doc, write.update, self._waiting, max_waiting=self.limits.max_waiting
                )
            if store:
                self.stored_bytes += len(write.update)
                write.mentions = watch.added()
            return store
        except TooMuchWaiting as exc:
            logger.info("rejected an update to %s: %s", self.document_id, exc)
            self.metrics.rejected("waiting")
            write.conn.peer.close(CloseCode.TOO_MANY)
            return None
        except ValueError as exc:
            logger.info("rejected an update to %s: %s", self.document_id, exc)
        except BaseException as exc:  # pycrdt/yrs panics raise PanicException (BaseException)
            if isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError):
                raise
            logger.warning("pycrdt panicked on an update to %s: %r", self.document_id, exc)
        self.metrics.rejected("bad_update")
        write.conn.peer.close(CloseCode.MALFORMED)
        return None

    async def _apply_remote(self, op: _Remote) -> None:
        if op.seq <= self.head:
            return
        if op.seq == self.head + 1 and op.update is not None:
            self._apply_committed(StoredUpdate(op.seq, op.update))
        else:
            await self._catch_up(op.seq)

    async def _catch_up(self, upto: int | None = None) -> None:
        """Fetch and apply committed updates this room has not seen (gap repair)."""
        rows = await self.store.updates_after(self.document_id, self.head, upto)
        self.metrics.gaps_repaired(len(rows))
        for row in rows:
            self._apply_committed(row)

    def _apply_committed(self, row: StoredUpdate) -> None:
        _, self._waiting = integrate_committed(self.doc, row.update, self._waiting)
        self.head = row.seq
        self.stored_bytes += len(row.update)
        self._deliver(row.seq, row.update, sender=None, publish=False)

    def _deliver(
        self, seq: int, update: bytes, *, sender: Connection | None, publish: bool = True
    ) -> None:
        plain = tandem = b""
        for conn in list(self.connections.values()):
            if conn is sender:
                continue
            if conn.tandem:
                tandem = tandem or protocol.tandem_update(seq, update)
                conn.peer.send(tandem)
            else:
                plain = plain or protocol.sync_update(update)
                conn.peer.send(plain)
        if publish and self.fanout is not None:
            self.fanout.publish_update(self.document_id, seq, update)

    def observe_head(self, head: int) -> None:
        """The log's head as just read: catch up if another process committed more."""
        if head > self.head and not self.dead:
            self._queue.put_nowait(_Remote(head, None))

    def _install(self, log: LoadedLog) -> None:
        self.doc, self._waiting = doc_from_log(log)
        self.snapshot_seq = log.snapshot_seq
        self.stored_bytes = len(log.snapshot or b"") + sum(len(r.update) for r in log.updates)

    async def _snapshot(self) -> None:
        seq = self.head
        state = snapshot_state(self.doc, self._waiting)
        await self.store.save_snapshot(self.document_id, seq, state)
        self.snapshot_seq = seq
        self.stored_bytes = len(state)

    def _greet(self, conn: Connection) -> None:
        if conn.peer not in self.connections:
            return
        conn.peer.send(protocol.sync_step1(self.doc.get_state()))
        present = self.awareness.present()
        if present:
            conn.peer.send(protocol.awareness(present))

    def _answer_step1(self, conn: Connection, state_vector: bytes) -> None:
        if conn.peer not in self.connections:
            return
        try:
            update = self.doc.get_update(state_vector)
        except ValueError:
            conn.peer.close(CloseCode.MALFORMED)
            return
        conn.peer.send(protocol.sync_step2(update))

    async def _start_replay(self, conn: Connection, since: int) -> None:
        """Send what the log holds after ``since``: row by row, or when many rows are
        missing, as one update at the head (``replay_update``), as sync step 2 would;
        from 0, the Doc's whole state at the head."""
        if conn.peer not in self.connections:
            return
        if since < self.head:
            # A client holding nothing (a fresh tab, a reconnect storm of them) needs no
            # rows read: it gets the Doc's whole state from memory, as below.
            rows = (
                await self.store.updates_after(self.document_id, since, self.head) if since else []
            )
            if not rows or rows[0].seq != since + 1:
                # From 0, or the update log's retention deleted rows after ``since``: the
                # whole state, at the head (what the client holds already, it ignores).
                joined: bytes | None = snapshot_state(self.doc, self._waiting)
            else:
                joined = replay_update(self.doc, self._waiting, [row.update for row in rows])
            if joined is not None:
                conn.peer.send(protocol.tandem_update(self.head, joined))
            else:
                for row in rows:
                    conn.peer.send(protocol.tandem_update(row.seq, row.update))
        conn.tandem = True
        conn.peer.send(protocol.tandem_head(self.head))

    def _die(self, code: int, reason: str) -> None:
        """Stop serving: close every connection so clients reconnect and resync."""
        logger.warning("room %s closes all connections (%s)", self.document_id, reason)
        self.dead = True
        self._stop_awareness()
        for conn in list(self.connections.values()):
            conn.peer.close(code)
        self.connections.clear()
        if self.on_dead is not None:
            self.on_dead(self)
