"""The awareness states (cursors, names, colors) of one room's clients, and who owns each.

A Yjs client id belongs to the connection that first set a state for it while nobody held it.
Only its owner may change or remove that state: standard clients (y-websocket's provider)
echo every awareness change they hear, other people's entries included, so an entry for an
id owned elsewhere is an echo or a spoof, and either way it is ignored, whatever its clock.
Ids set through another replica are owned by that replica (and the user behind them) until
it removes them or they go unrenewed for ``timeout`` seconds. A newer state from the same
user takes an id over. See docs/protocol.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from backend.collab.core.protocol import AwarenessEntry

# y-protocols drops a state not renewed for 30 s; its clients renew every 15 s.
OUTDATED_SECONDS = 30.0


@dataclass(frozen=True)
class RemoteOwner:
    """An id set through another replica (its user is the held entry's ``user_id``)."""

    replica: str


@dataclass
class _Held:
    entry: AwarenessEntry
    owner: object | None  # a local connection's key, a RemoteOwner, or None once removed
    user_id: int | None  # the user who set it
    changed_at: float


@dataclass(frozen=True)
class Claim:
    """What a connection's awareness message did."""

    accepted: list[AwarenessEntry]
    over_limit: bool = False


def is_newer(entry: AwarenessEntry, held: AwarenessEntry | None) -> bool:
    """y-protocols' rule: a higher clock wins; at the same clock only a removal does."""
    if held is None:
        return not entry.removed
    if entry.clock != held.clock:
        return entry.clock > held.clock
    return entry.removed and not held.removed


def with_user_name(entry: AwarenessEntry, name: str) -> AwarenessEntry:
    """The entry with ``user.name`` set to the account's name (other fields kept).

    A state without a ``user`` field is left alone: showing a name is the client's choice,
    but the name it shows is never its own invention."""
    if entry.removed or '"user"' not in entry.state_json:
        return entry
    state = json.loads(entry.state_json)
    if not isinstance(state, dict) or "user" not in state:
        return entry
    user = state["user"]
    if isinstance(user, dict) and user.get("name") == name:
        return entry
    state["user"] = {**user, "name": name} if isinstance(user, dict) else {"name": name}
    # JSON.stringify's form, so a client's echo of it reads the same.
    text = json.dumps(state, separators=(",", ":"), ensure_ascii=False)
    return replace(entry, state_json=text)


class AwarenessStates:
    """Current state per Yjs client id, with the Lamport clock that orders its changes."""

    def __init__(self, *, timeout: float = OUTDATED_SECONDS) -> None:
        self.timeout = timeout
        self._held: dict[int, _Held] = {}
        self._owned: dict[object, set[int]] = {}

    def claim(
        self,
        owner: object,
        user_id: int | None,
        entries: Iterable[AwarenessEntry],
        *,
        max_owned: int,
        stamp: Callable[[AwarenessEntry], AwarenessEntry] = lambda entry: entry,
    ) -> Claim:
        """Apply a local connection's entries; returns those accepted (to relay).

        ``stamp`` rewrites an accepted entry (the server's identity fields) before it is
        held. Claiming more than ``max_owned`` ids stops at the limit: ``over_limit``."""
        accepted: list[AwarenessEntry] = []
        owned = self._owned.setdefault(owner, set())
        now = time.monotonic()
        over_limit = False
        for entry in entries:
            held = self._held.get(entry.client_id)
            if held is not None and held.owner is not None and held.owner != owner:
                if not self._takes_over(held, user_id, entry):
                    continue  # an echo, or someone else's cursor: never applied
                self._disown(held, entry.client_id)
            elif not is_newer(entry, held.entry if held else None):
                continue
            if entry.client_id not in owned:
                if entry.removed:
                    continue
                if len(owned) >= max_owned:
                    over_limit = True
                    break
                owned.add(entry.client_id)
            entry = stamp(entry)
            if entry.removed:
                owned.discard(entry.client_id)
            self._held[entry.client_id] = _Held(
                entry, None if entry.removed else owner, user_id, now
            )
            accepted.append(entry)
        if not owned:
            del self._owned[owner]
        return Claim(accepted, over_limit)

    def _takes_over(self, held: _Held, user_id: int | None, entry: AwarenessEntry) -> bool:
        """The same user with a newer state: a client that moved to this replica (its old
        one died or dropped it), or a tab whose state a sibling tab echoed first (y-websocket
        shares states between tabs over BroadcastChannel before the socket opens). Echoes
        are never newer than what is held, and nothing else moves an owned id."""
        return (
            user_id is not None
            and held.user_id == user_id
            and not entry.removed
            and entry.clock > held.entry.clock
        )

    def _disown(self, held: _Held, client_id: int) -> None:
        owned = self._owned.get(held.owner) if held.owner is not None else None
        if owned is not None:
            owned.discard(client_id)
            if not owned:
                del self._owned[held.owner]

    def apply_remote(
        self, replica: str, entries: Iterable[AwarenessEntry], users: dict[int, int | None]
    ) -> list[AwarenessEntry]:
        """Apply entries another replica accepted from its owners; returns those accepted.

        An id owned by a connection of this replica keeps its local state."""
        accepted = []
        now = time.monotonic()
        for entry in entries:
            held = self._held.get(entry.client_id)
            owner = held.owner if held is not None else None
            if owner is not None and not isinstance(owner, RemoteOwner):
                continue  # owned by a connection of this replica
            if not is_newer(entry, held.entry if held else None):
                continue
            remote = None if entry.removed else RemoteOwner(replica)
            self._held[entry.client_id] = _Held(entry, remote, users.get(entry.client_id), now)
            accepted.append(entry)
        return accepted

    def release(self, owner: object) -> list[AwarenessEntry]:
        """A connection closed: remove the states it owns; returns the removals to relay."""
        return [self._remove(client_id) for client_id in sorted(self._owned.pop(owner, ()))]

    def expire(self) -> list[AwarenessEntry]:
        """Forget what has gone unrenewed for ``timeout``: removals of remote states to
        relay (their replica died or its removal was lost), and removed entries kept only
        to refuse stale echoes."""
        cutoff = time.monotonic() - self.timeout
        removals = []
        for client_id, held in list(self._held.items()):
            if held.changed_at >= cutoff:
                continue
            if held.owner is None:
                del self._held[client_id]
            elif isinstance(held.owner, RemoteOwner):
                removals.append(self._remove(client_id))
        return removals

    def _remove(self, client_id: int) -> AwarenessEntry:
        held = self._held[client_id]
        # At the same clock: y-protocols takes a removal at the clock it holds, and the
        # client's next change (clock + 1) then shows it again.
        removal = AwarenessEntry(client_id=client_id, clock=held.entry.clock, state_json="null")
        self._held[client_id] = _Held(removal, None, held.user_id, time.monotonic())
        return removal

    def owned_by(self, owner: object) -> set[int]:
        return set(self._owned.get(owner, ()))

    def entry(self, client_id: int) -> AwarenessEntry | None:
        """The entry held for a client id (a removal keeps its clock), if any."""
        held = self._held.get(client_id)
        return held.entry if held is not None else None

    def user_of(self, client_id: int) -> int | None:
        held = self._held.get(client_id)
        return held.user_id if held is not None else None

    def present(self) -> list[AwarenessEntry]:
        """Entries of clients that currently have a state."""
        return [held.entry for held in self._held.values() if not held.entry.removed]
