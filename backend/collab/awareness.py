"""The awareness states (cursors, names, colors) of one room's clients."""

from __future__ import annotations

from backend.collab.protocol import MAX_VAR_UINT, AwarenessEntry


class AwarenessStates:
    """Current state per Yjs client id, with the Lamport clock that orders its changes.

    Only entries newer than what is held are accepted, so a relayed frame never carries a
    stale state, and a frame that changes nothing is not relayed at all.
    """

    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}

    def apply(self, entries: tuple[AwarenessEntry, ...]) -> list[AwarenessEntry]:
        """Take the newer entries; returns those accepted (to relay)."""
        accepted = []
        for entry in entries:
            held = self._entries.get(entry.client_id)
            if held is not None and (
                entry.clock < held.clock or (entry.clock == held.clock and not entry.removed)
            ):
                continue
            if entry.removed:
                if held is None:
                    continue
                # Keep the clock of a removed client so an older state cannot resurrect it.
                self._entries[entry.client_id] = entry
            else:
                self._entries[entry.client_id] = entry
            accepted.append(entry)
        return accepted

    def remove(self, client_ids: set[int]) -> list[AwarenessEntry]:
        """Remove these clients' states; returns the removal entries to relay."""
        removals = []
        for client_id in client_ids:
            held = self._entries.get(client_id)
            if held is None or held.removed:
                continue
            # y-protocols takes a removal at the same clock, so a clock already at the largest
            # number JavaScript decodes (2**53 - 1) is not pushed past it.
            clock = min(held.clock + 1, MAX_VAR_UINT)
            removal = AwarenessEntry(client_id=client_id, clock=clock, state_json="null")
            self._entries[client_id] = removal
            removals.append(removal)
        return removals

    def present(self) -> list[AwarenessEntry]:
        """Entries of clients that currently have a state."""
        return [entry for entry in self._entries.values() if not entry.removed]
