"""What the core needs from outside it: the store, the connections, the fan-out, access, metrics.

The room and the registry are written against these types only, so they run without Django,
Channels or Redis (tests/collab/core/ serves them an in-memory store and fake peers). The
edge and storage layers implement them: ``storage.store.DjangoUpdateStore``,
``edge.consumers.DocumentConsumer`` (a ``Peer``), ``edge.fanout.LayerFanout``,
``edge.metrics.PrometheusRoomMetrics``.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from backend.collab.core.mentions import Mention

# --- the update log --------------------------------------------------------------------


@dataclass(frozen=True)
class PendingWrite:
    update: bytes
    author_id: int | None
    # The mentions the update adds (``mentions.added``): told once the write is stored.
    mentions: tuple[Mention, ...] = ()


class StoredUpdate(NamedTuple):
    """A row of the update log: a tuple, made fast (a cold load makes 100,000 of them)."""

    seq: int
    update: bytes


@dataclass(frozen=True)
class Appended:
    """What an append committed: the writes after ``previous``, less the refused ones."""

    previous: int  # the head before the writes
    # Authors who could no longer write when the append took the document's lock (removed,
    # demoted, deactivated): their writes were not stored, the others' got the next numbers.
    refused: frozenset[int] = frozenset()


@dataclass(frozen=True)
class LoadedLog:
    snapshot: bytes | None
    snapshot_seq: int
    updates: list[StoredUpdate]

    @property
    def head(self) -> int:
        return self.updates[-1].seq if self.updates else self.snapshot_seq


class UpdateStore(ABC):
    """The durable log of one deployment: every method is safe to call concurrently.

    A method raises ``backend.documents.errors.DocumentNotFound`` for a deleted document."""

    @abstractmethod
    async def load(self, document_id: uuid.UUID) -> LoadedLog:
        """The latest snapshot and every update after it."""

    @abstractmethod
    async def append(self, document_id: uuid.UUID, writes: Sequence[PendingWrite]) -> Appended:
        """Commit ``writes`` in one transaction, but for those of authors who may no longer
        write (judged under the lock that orders appends and role changes).

        The stored writes keep their order and get ``previous + 1``, ``previous + 2``, ...
        """

    @abstractmethod
    async def updates_after(
        self, document_id: uuid.UUID, seq: int, upto: int | None = None
    ) -> list[StoredUpdate]:
        """Updates with ``seq < n <= upto`` (all after ``seq`` when ``upto`` is None)."""

    @abstractmethod
    async def heads(self, document_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The last committed sequence number of each document that still exists."""

    @abstractmethod
    async def save_snapshot(self, document_id: uuid.UUID, seq: int, state: bytes) -> None:
        """Store the full state as of ``seq``; storing the same ``seq`` twice is harmless."""

    async def close(self) -> None:  # noqa: B027  # most stores hold nothing to release
        """Release what the store holds open (process shutdown, after the rooms' flush)."""


# --- connections and other processes ---------------------------------------------------


class Peer(Protocol):
    """What a room needs of a connection. Both methods return at once, never raise."""

    user_id: int | None
    username: str  # shown beside this connection's cursor (awareness ``user.name``)
    can_write: bool
    token_generation: int
    admitted_at: float  # time.monotonic() when its access check began

    def send(self, frame: bytes) -> None: ...

    def close(self, code: int, reason: str = "") -> None:
        """Close with ``code``; ``reason`` (at most 123 bytes) tells the client why."""


class Fanout(Protocol):
    """Carries committed updates and awareness to the same room in other processes."""

    def publish_update(self, document_id: uuid.UUID, seq: int, update: bytes) -> None: ...

    def publish_awareness(
        self, document_id: uuid.UUID, frame: bytes, users: dict[int, int | None]
    ) -> None:
        """``users``: the user behind each client id of the frame (its owner there)."""


class Subscriptions(Fanout, Protocol):
    """A fan-out that rooms join and leave by document."""

    async def subscribe(self, document_id: uuid.UUID) -> None: ...

    async def unsubscribe(self, document_id: uuid.UUID) -> None: ...


# --- access ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Some users' current access to one document, for re-checking open connections."""

    can_write: dict[int, bool]  # the users with access, by id: whether they may edit
    inactive: frozenset[int]  # users whose account was deactivated or deleted
    generations: dict[int, int]  # each user's current token generation


class AccessCheck(Protocol):
    def __call__(
        self, *, users_by_document: dict[uuid.UUID, set[int]]
    ) -> Awaitable[dict[uuid.UUID, Access]]: ...


# --- metrics ---------------------------------------------------------------------------


class RoomMetrics:
    """What rooms count. This base counts nothing; the edge's subclass exports Prometheus."""

    def rejected(self, reason: str) -> None:
        """A client message refused (``malformed``, ``viewer``, ``waiting``...)."""

    def commit_timer(self) -> AbstractContextManager[object]:
        """Times one group commit."""
        return nullcontext()

    def accepted(self, count: int) -> None:
        """``count`` client updates committed."""

    def gaps_repaired(self, count: int) -> None:
        """``count`` updates read back from the log to fill a gap."""

    def awareness_echo(self) -> None:
        """A client's echo of a relayed awareness frame, recognised and dropped unparsed."""

    def room_opened(self) -> None: ...

    def room_closed(self) -> None: ...
