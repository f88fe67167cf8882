"""The y-websocket wire protocol plus Tandem's opt-in extension: strict parsing and encoding.

Every frame a client sends is parsed completely here before anything acts on it, and every
frame the server sends is encoded here. pycrdt provides the encoders
(``create_update_message``, ``write_var_uint``...); its ``Decoder`` does not check bounds
(a truncated length silently yields a short message), so reading uses ``Reader`` below,
which refuses truncated, overlong and trailing bytes. See docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from pycrdt import (
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_update_message,
    write_var_uint,
)
from pycrdt._sync import create_sync_step1_message, create_sync_step2_message, write_message

MAX_VAR_UINT = 2**53 - 1  # lib0 numbers are JavaScript numbers
EMPTY_UPDATE = b"\x00\x00"


class MessageType(IntEnum):
    SYNC = YMessageType.SYNC
    AWARENESS = YMessageType.AWARENESS
    AUTH = 2
    QUERY_AWARENESS = 3
    TANDEM = 100


class TandemType(IntEnum):
    HELLO = 0
    ACK = 1
    UPDATE = 2
    HEAD = 3


class MalformedMessage(ValueError):
    """A frame that does not decode; the connection that sent it is closed with 4400."""


class Reader:
    """A bounds-checked lib0 decoder over one frame."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        data, pos = self.data, self.pos
        value = shift = 0
        while True:
            if pos >= len(data):
                raise MalformedMessage("truncated number")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if value > MAX_VAR_UINT:
                raise MalformedMessage("number out of range")
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise MalformedMessage("truncated byte array")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedMessage("string is not UTF-8") from exc

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedMessage("trailing bytes after the message")


@dataclass(frozen=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True)
class SyncUpdate:
    """A sync step 2 or an update: both carry a Yjs update to apply."""

    update: bytes
    step2: bool


@dataclass(frozen=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state_json: str  # "null" (or empty) removes the client's state

    @property
    def removed(self) -> bool:
        return self.state_json in ("", "null")


@dataclass(frozen=True)
class AwarenessUpdate:
    entries: tuple[AwarenessEntry, ...]


@dataclass(frozen=True)
class QueryAwareness:
    pass


@dataclass(frozen=True)
class Hello:
    since: int


Message = SyncStep1 | SyncUpdate | AwarenessUpdate | QueryAwareness | Hello


def parse(
    frame: bytes,
    *,
    max_awareness_state: int,
    held: Callable[[int], AwarenessEntry | None] = lambda client_id: None,
) -> Message:
    """Decode one client frame completely or raise ``MalformedMessage``.

    ``held`` gives the awareness entry already held (and checked) for a client id. Standard
    clients echo every state they hear, so most awareness entries a server receives are
    such echoes, current or already superseded: an entry older than the held one, or the
    held one again, is left out of the message (nothing would apply it: y-protocols' rule,
    ``awareness.is_newer``), and a renewal (its text at a newer clock) is not parsed as JSON
    again."""
    reader = Reader(frame)
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC:
        message = _parse_sync(reader)
    elif kind == MessageType.AWARENESS:
        message = _parse_awareness(Reader(reader.var_bytes()), max_awareness_state, held)
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwareness()
    elif kind == MessageType.TANDEM:
        if reader.var_uint() != TandemType.HELLO:
            raise MalformedMessage("clients may only send the tandem hello")
        message = Hello(since=reader.var_uint())
    else:
        raise MalformedMessage(f"unknown message type {kind}")
    reader.end()
    return message


def _parse_sync(reader: Reader) -> SyncStep1 | SyncUpdate:
    step = reader.var_uint()
    payload = reader.var_bytes()
    if step == YSyncMessageType.SYNC_STEP1:
        _check_state_vector(payload)
        return SyncStep1(state_vector=payload)
    if step in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
        return SyncUpdate(update=payload, step2=step == YSyncMessageType.SYNC_STEP2)
    raise MalformedMessage(f"unknown sync step {step}")


def _check_state_vector(payload: bytes) -> None:
    reader = Reader(payload)
    for _ in range(reader.var_uint()):
        reader.var_uint()
        reader.var_uint()
    reader.end()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse_awareness(
    reader: Reader, max_state: int, held: Callable[[int], AwarenessEntry | None]
) -> AwarenessUpdate:
    entries = []
    for _ in range(reader.var_uint()):
        client_id, clock, state = reader.var_uint(), reader.var_uint(), reader.var_string()
        if len(state) > max_state:
            raise MalformedMessage(f"awareness state over {max_state} bytes")
        known = held(client_id)
        if known is not None:
            if clock < known.clock or (clock == known.clock and state == known.state_json):
                continue  # older than what is held, or its echo: never applied (is_newer)
            if state == known.state_json:  # a renewal: the same text at a newer clock
                entries.append(AwarenessEntry(client_id=client_id, clock=clock, state_json=state))
                continue
        # Relayed as sent, so it must be what JavaScript's JSON.parse accepts: not empty
        # (y-protocols removes a state with "null") and no NaN or Infinity, which Python's
        # json takes but every browser client would throw on.
        try:
            json.loads(state, parse_constant=_reject_constant)
        except ValueError as exc:
            raise MalformedMessage("awareness state is not JSON") from exc
        entries.append(AwarenessEntry(client_id=client_id, clock=clock, state_json=state))
    reader.end()
    return AwarenessUpdate(entries=tuple(entries))


# --- frames the server sends ---------------------------------------------------------------


def sync_step1(state_vector: bytes) -> bytes:
    return bytes(create_sync_step1_message(state_vector))


def sync_step2(update: bytes) -> bytes:
    return bytes(create_sync_step2_message(update))


def sync_update(update: bytes) -> bytes:
    return bytes(create_update_message(update))


def awareness(entries: list[AwarenessEntry] | tuple[AwarenessEntry, ...]) -> bytes:
    return SentAwareness.of(entries).frame


@dataclass(frozen=True)
class SentAwareness:
    """An awareness frame the server sends, and where each client id's entry lies in it.

    A standard client (y-websocket's provider) answers each awareness frame it hears with
    the entries that were news to it, in the frame's order and re-encoded byte for byte
    (JSON.stringify of the state it parsed): every entry but its own, whose clock it already
    holds. ``echo`` builds that answer, so a room can recognise it by its bytes instead of
    decoding every entry of it again. A client that answers anything else (it joined since,
    or heard an entry elsewhere first) is simply not recognised, and its frame is parsed."""

    entries: bytes  # the encoded entries, without their count
    count: int
    spans: dict[int, tuple[int, int]]  # client id -> where its entry lies in ``entries``

    @classmethod
    def of(cls, entries: list[AwarenessEntry] | tuple[AwarenessEntry, ...]) -> SentAwareness:
        parts: list[bytes] = []
        spans: dict[int, tuple[int, int]] = {}
        at = 0
        for entry in entries:
            state = entry.state_json.encode("utf-8")
            part = b"".join(
                (
                    write_var_uint(entry.client_id),
                    write_var_uint(entry.clock),
                    write_var_uint(len(state)),
                    state,
                )
            )
            spans[entry.client_id] = (at, at + len(part))
            parts.append(part)
            at += len(part)
        return cls(b"".join(parts), len(entries), spans)

    @property
    def frame(self) -> bytes:
        return self._frame(self.count, self.entries)

    def echo(self, own: set[int]) -> bytes:
        """The frame a standard client that owns the ids ``own`` sends back on hearing this."""
        return self._without(self._cut(own))

    def is_echo(self, frame: bytes, own: set[int]) -> bool:
        """Whether ``frame`` is ``echo(own)``; a frame of another length is not built."""
        cut = self._cut(own)
        length = len(self.entries) - sum(end - start for start, end in cut)
        if len(frame) != _frame_length(self.count - len(cut), length):
            return False
        return frame == self._without(cut)

    def _cut(self, own: set[int]) -> list[tuple[int, int]]:
        """The spans of the entries of ``own`` in this frame, in order."""
        return sorted(self.spans[client_id] for client_id in own if client_id in self.spans)

    def _without(self, cut: list[tuple[int, int]]) -> bytes:
        """This frame less the entries at ``cut``."""
        if not cut:
            return self.frame
        kept, at = [], 0
        for start, end in cut:
            kept.append(self.entries[at:start])
            at = end
        kept.append(self.entries[at:])
        return self._frame(self.count - len(cut), b"".join(kept))

    @staticmethod
    def _frame(count: int, entries: bytes) -> bytes:
        return bytes(create_awareness_message(write_var_uint(count) + entries))


def _frame_length(count: int, entries_length: int) -> int:
    """The length of an awareness frame of ``count`` entries taking ``entries_length`` bytes."""
    update_length = len(write_var_uint(count)) + entries_length
    return 1 + len(write_var_uint(update_length)) + update_length


def permission_denied(reason: str) -> bytes:
    encoded = reason.encode("utf-8")
    return bytes([MessageType.AUTH, 0]) + write_var_uint(len(encoded)) + encoded


def tandem_ack(seq: int) -> bytes:
    return _tandem(TandemType.ACK) + write_var_uint(seq)


def tandem_update(seq: int, update: bytes) -> bytes:
    return _tandem(TandemType.UPDATE) + write_var_uint(seq) + write_message(update)


def tandem_head(seq: int) -> bytes:
    return _tandem(TandemType.HEAD) + write_var_uint(seq)


def hello(since: int) -> bytes:
    """The client's opt-in frame (used by Python clients and tests)."""
    return _tandem(TandemType.HELLO) + write_var_uint(since)


def _tandem(subtype: TandemType) -> bytes:
    return write_var_uint(MessageType.TANDEM) + write_var_uint(subtype)
