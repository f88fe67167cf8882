"""Applying updates to the authoritative pycrdt Doc, keeping what cannot be integrated yet.

An update can build on updates the Doc has not seen: a client reconnecting through another
replica, a sync step 2 that crossed a broadcast. Yjs holds such structs *pending* until the
gap is filled. yrs (pycrdt 0.14.13) does too, but loses some of them, and once the gap is
filled it integrates them a second time, over the same clocks, after which ``get_update``
encodes a state that every decoder reads with text missing (docs/reliability.md tells how
it was found). So the Doc only ever receives what it can integrate at once
(``update_split``); the rest waits here, as updates, and is offered again whenever the
Doc's state vector grows. Rules that follow, each found by a test that lost data without it:

- an update that waits in part is stored like any change (``apply_update``): the log must
  hold it when the gap is filled;
- a snapshot carries the updates still waiting (``snapshot_state``).
"""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Doc, merge_updates, write_var_uint

from backend.collab.core import protocol, update_split
from backend.collab.core.ports import LoadedLog

logger = logging.getLogger(__name__)


class TooMuchWaiting(Exception):
    """Part of the update would wait, and as many parts wait already as allowed."""


def apply_update(
    doc: Doc[Any], update: bytes, *, may_wait: bool = True
) -> tuple[bool, bytes | None]:
    """Apply what the Doc can integrate of ``update`` now; returns (store, waiting). Store
    it when it changed the Doc or part of it waits (``waiting``: that part). Raises
    ValueError on bad bytes and, unless ``may_wait``, TooMuchWaiting (nothing applied)
    when part of it would wait."""
    if update == protocol.EMPTY_UPDATE:
        return False, None
    before = doc.get_state()
    parts = update_split.split(update, EncodedStateVector(before))
    if parts.waiting is not None and not may_wait:
        raise TooMuchWaiting(f"{len(parts.waiting)} bytes of the update build on missing ones")
    changed = False
    if parts.ready is not None and not parts.deletes:
        # Structs alone change the Doc exactly when they grow its state vector. Asking an
        # observer instead makes yrs encode each transaction's update, which costs in
        # proportion to the text an item holds: 0.56 against 0.17 ms per append to a
        # 250,000-character text typed by one client.
        doc.apply_update(parts.ready)
        changed = doc.get_state() != before
    elif parts.ready is not None:

        def mark(_event: object) -> None:
            nonlocal changed
            changed = True

        subscription = doc.observe(mark)
        try:
            doc.apply_update(parts.ready)
        finally:
            doc.unobserve(subscription)
    return changed or parts.waiting is not None, parts.waiting


def integrate(
    doc: Doc[Any], update: bytes, waiting: list[bytes], *, max_waiting: int | None = None
) -> tuple[bool, list[bytes]]:
    """Apply ``update`` (see ``apply_update``) to a Doc whose waiting parts of earlier
    updates are ``waiting``; returns whether to store it and what waits afterwards. With
    ``max_waiting``, an update that would add a part to that many raises TooMuchWaiting."""
    may_wait = max_waiting is None or len(waiting) < max_waiting
    if not waiting:  # the update's own rest cannot build on its ready part: split saw it
        store, rest = apply_update(doc, update, may_wait=may_wait)
        return store, [] if rest is None else [rest]
    before = doc.get_state()
    store, rest = apply_update(doc, update, may_wait=may_wait)
    if rest is not None:
        waiting = [*waiting, rest]
    if doc.get_state() != before:
        waiting = _retry(doc, waiting)
    return store, waiting


def integrate_committed(
    doc: Doc[Any], update: bytes, waiting: list[bytes]
) -> tuple[bool, list[bytes]]:
    """``integrate`` for an update the log holds already. One that an older Tandem stored
    and ``update_split`` now refuses (a content kind or shared type Yjs does not know, a
    client's structs in two groups) is applied as yrs reads it, as it was then: a stored
    update is never dropped."""
    try:
        return integrate(doc, update, waiting)
    except protocol.MalformedMessage as exc:
        logger.warning("applying a stored update as yrs reads it: %s", exc)
        doc.apply_update(update)
        return True, waiting


def _retry(doc: Doc[Any], waiting: list[bytes]) -> list[bytes]:
    """Offer the waiting parts again until a round integrates nothing more."""
    while waiting:
        before = doc.get_state()
        still = []
        for update in waiting:
            _, rest = apply_update(doc, update)
            if rest is not None:
                still.append(rest)
        waiting = still
        if doc.get_state() == before:
            break
    return waiting


def state_vector(encoded: bytes) -> dict[int, int]:
    reader = protocol.Reader(encoded)
    return {reader.var_uint(): reader.var_uint() for _ in range(reader.var_uint())}


_CONTINUED = bytes(range(0x80, 0x100))  # the bytes of a varuint that are not its last


class EncodedStateVector:
    """A Doc's encoded state vector (``Doc.get_state()``), read one client at a time.

    An update names a client or a few, and decoding every entry of the state vector in
    Python costs O(clients a Doc has seen): about 1 ms at 1,000, on every update applied
    (every page load adds a client). A client's entry is found by searching for its
    encoded id instead: a match is that entry when it starts a number (the byte before it
    ends one) and that number is a client (odd: the count comes first, then client and
    clock by turns). An update naming many clients (a whole state) gets them all decoded
    once instead."""

    SEARCHES = 8  # clients searched for, at most; past it, every entry is decoded

    __slots__ = ("_all", "_found", "encoded")

    def __init__(self, encoded: bytes) -> None:
        self.encoded = encoded
        self._found: dict[int, int | None] = {}
        self._all: dict[int, int] | None = None

    def get(self, client: int, default: int = 0, /) -> int:
        if self._all is None and client not in self._found:
            if len(self._found) == self.SEARCHES:
                self._all = state_vector(self.encoded)
            else:
                self._found[client] = self._search(client)
        if self._all is not None:
            return self._all.get(client, default)
        clock = self._found[client]
        return default if clock is None else clock

    def _search(self, client: int) -> int | None:
        data = self.encoded
        key = write_var_uint(client)
        at = data.find(key, 1)
        while at != -1:
            if data[at - 1] < 0x80 and len(data[:at].translate(None, _CONTINUED)) % 2 == 1:
                reader = protocol.Reader(data)
                reader.pos = at + len(key)
                return reader.var_uint()
            at = data.find(key, at + 1)
        return None


JOIN_AT_MOST = 2000  # updates applied as one: bounds the joined update's size


def doc_from_log(log: LoadedLog) -> tuple[Doc[Any], list[bytes]]:
    """The Doc the log describes, and the parts of logged updates that still wait.

    The same Doc and waiting parts as ``integrate_committed`` row after row, in a fraction
    of the time: a run of rows that the Doc integrates at once, each in turn, is joined
    and applied as one update (``update_split.Joined``), and only the others go through
    ``integrate_committed``. The waiting parts are offered again before such a row and at
    the end, when ``integrate`` would have offered them after each row of the run: nothing
    in the run needs them, and what they integrate depends only on what the Doc holds."""
    doc: Doc[Any] = Doc()
    waiting: list[bytes] = []
    joined = update_split.Joined({})
    updates = [r.update for r in log.updates]
    for update in [log.snapshot, *updates] if log.snapshot else updates:
        if joined.count < JOIN_AT_MOST and joined.add(update):
            continue
        waiting = _apply_joined(doc, joined, waiting)
        joined = update_split.Joined(state_vector(doc.get_state()))
        if joined.add(update):  # the run was full, or a waiting part it needed is in now
            continue
        _, waiting = integrate_committed(doc, update, waiting)
        joined = update_split.Joined(state_vector(doc.get_state()))
    return doc, _apply_joined(doc, joined, waiting)


def _apply_joined(doc: Doc[Any], joined: update_split.Joined, waiting: list[bytes]) -> list[bytes]:
    update = joined.take()
    if update is None:
        return waiting
    doc.apply_update(update)
    return _retry(doc, waiting) if waiting else waiting


def snapshot_state(doc: Doc[Any], waiting: list[bytes]) -> bytes:
    """The Doc's full state with the parts of updates that still wait: they were logged
    before the snapshot, and a reload reads only what follows it."""
    state = doc.get_update()
    return merge_updates(state, *waiting) if waiting else state


REPLAY_JOIN_AFTER = 32  # rows: a replay of more is sent as one update when that is smaller


def replay_update(doc: Doc[Any], waiting: list[bytes], updates: list[bytes]) -> bytes | None:
    """One update that takes a client from the log before ``updates`` to the Doc's state,
    or None when sending ``updates`` one by one is as small (or they are few).

    The Doc (the log up to the last of ``updates``) is encoded from a state vector lowered,
    for each client that ``updates`` write for, to the first clock they write: whatever a
    client holding the log before ``updates`` lacks is in them, so it is in that encoding
    (with the whole delete set), or among the parts still ``waiting``, merged in. What the
    client holds already again, it ignores. ``merge_updates`` of the rows themselves gives
    the same state but took seconds for 10,000 rows (docs/performance.md)."""
    if len(updates) <= REPLAY_JOIN_AFTER:
        return None
    since = state_vector(doc.get_state())
    try:
        for update in updates:
            for client, clock in _first_clocks(update):
                since[client] = min(since.get(client, 0), clock)
    except protocol.MalformedMessage:
        return None  # a row update_split cannot read (stored by an older Tandem): row by row
    diff = doc.get_update(_encode_state_vector(since))
    if waiting:
        diff = merge_updates(diff, *waiting)
    return diff if len(diff) < sum(len(u) for u in updates) else None


def _first_clocks(update: bytes) -> list[tuple[int, int]]:
    """(client, first clock) of each client's structs in ``update``."""
    reader = protocol.Reader(update)
    if reader.var_uint() == 1:  # one client's structs, as a typed change is: read its header
        reader.var_uint()  # how many structs
        return [(reader.var_uint(), reader.var_uint())]
    parsed = update_split.parse(update)
    return [(client, structs[0].clock) for client, structs in parsed.structs.items() if structs]


def _encode_state_vector(state: dict[int, int]) -> bytes:
    parts = [write_var_uint(len(state))]
    for client, clock in state.items():
        parts += (write_var_uint(client), write_var_uint(clock))
    return b"".join(parts)
