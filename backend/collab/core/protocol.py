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
    body = [write_var_uint(len(entries))]
    for entry in entries:
        state = entry.state_json.encode("utf-8")
        body += [write_var_uint(entry.client_id), write_var_uint(entry.clock)]
        body += [write_var_uint(len(state)), state]
    return bytes(create_awareness_message(b"".join(body)))


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
