"""Splitting a Yjs update (v1 encoding, the only one y-websocket speaks) into the part a Doc
can integrate now and the part that must wait for updates it builds on.

yrs (pycrdt 0.14.13) mishandles updates it has to hold pending: it loses some when several
wait at once, and when a later update fills the gap it integrates the waiting items a second
time, over the same clocks, so that ``get_update`` then encodes a negative skip that every
decoder, Yjs's included, reads as lost text (docs/reliability.md tells how this was found). So
the Doc is only ever given what it can integrate at once, and the rest is kept here until
the gap is filled, as Yjs does with its own pending structs and delete set.

A struct can be integrated when the Doc (or this update, earlier) holds every clock of its
client before it and the items it points at: its left and right origins and, when it has
neither, its parent. A deletion can be applied once the Doc holds the clocks it deletes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from pycrdt import write_var_uint

from backend.collab.core.protocol import MAX_VAR_UINT, MalformedMessage, Reader

_GC, _SKIP = 0, 10
_HAS_ORIGIN, _HAS_RIGHT_ORIGIN, _HAS_PARENT_SUB = 0x80, 0x40, 0x20
_XML_ELEMENT, _XML_HOOK, _XML_TEXT = 3, 5, 6

_WRAPPED = 2**31
Id = tuple[int, int]  # (client, clock)


@dataclass(frozen=True)
class Struct:
    clock: int
    length: int
    skip: bool
    needs: tuple[Id, ...]  # items it points at
    encoded: bytes


@dataclass
class Parsed:
    structs: dict[int, list[Struct]] = field(default_factory=dict)  # client -> in clock order
    deletions: list[tuple[int, int, int]] = field(default_factory=list)  # client, clock, length


@dataclass(frozen=True)
class Split:
    ready: bytes | None  # apply this now (None: nothing to apply)
    waiting: bytes | None  # keep this until the Doc's state vector grows (None: nothing)
    deletes: bool = True  # whether ``ready`` holds deletions (False only when known)


class StateLookup(Protocol):
    """A state vector as ``split`` reads it: the clock held of one client at a time."""

    def get(self, client: int, default: int, /) -> int: ...


class _Grown(dict[int, int]):
    """The state vector ``state`` grows to as structs are taken: the clocks grown are
    kept here, the others read from ``state`` only for the clients asked about."""

    def __init__(self, state: StateLookup) -> None:
        super().__init__()
        self.state = state

    def get(self, client: int, default: int = 0, /) -> int:  # type: ignore[override]
        clock = dict.get(self, client)
        return self.state.get(client, default) if clock is None else clock


def split(update: bytes, state: StateLookup) -> Split:
    """The part of ``update`` a Doc with state vector ``state`` can integrate at once, and
    the rest. Raises ``MalformedMessage`` for bytes that are not a v1 update."""
    at_once = _integrates_at_once(update, state)
    if at_once is not None:  # the usual update: one quick read, no objects
        holds, deletes = at_once
        return Split(update if holds else None, None, deletes)
    parsed = parse(update)
    have = _Grown(state)
    ready_count = _integrable_prefixes(parsed.structs, have)
    ready, waiting = Parsed(), Parsed()
    for client, structs in parsed.structs.items():
        count = ready_count[client]
        if count:
            ready.structs[client] = structs[:count]
        rest = _without_leading_skips(structs[count:])
        if rest:
            waiting.structs[client] = rest
    for client, clock, length in parsed.deletions:
        applicable = min(length, max(0, have.get(client, 0) - clock))
        if applicable:
            ready.deletions.append((client, clock, applicable))
        if applicable < length:
            waiting.deletions.append((client, clock + applicable, length - applicable))
    deletes = bool(ready.deletions)
    if not waiting.structs and not waiting.deletions:
        return Split(update if ready.structs or deletes else None, None, deletes)
    return Split(_encode(ready), _encode(waiting), deletes)


def _integrates_at_once(update: bytes, state: StateLookup) -> tuple[bool, bool] | None:
    """When a Doc with ``state`` integrates every struct and deletion of ``update`` at
    once (as ``Joined.add`` judges, read by ``_scan``): whether it holds anything, and
    whether it holds deletions. None otherwise, or when ``_scan`` cannot read it: ``split``
    then reads it in full."""
    scanned = _scan(update)
    if scanned is None:
        return None
    groups, deletions = scanned
    grown: dict[int, int] = {}
    for client, clock, structs in groups:
        at = state.get(client, 0)  # (a client has one group: ``_scan`` refuses two)
        for length, needs, _ in structs:
            end = clock + length
            if end > at:
                if clock != at:
                    return None  # a gap, or part of it held
                for needed, needed_clock in needs:
                    if needed_clock >= grown.get(needed, state.get(needed, 0)):
                        return None
                grown[client] = at = end
            clock = end
    for client, clock, length in deletions:
        if clock + length > grown.get(client, state.get(client, 0)):
            return None
    return bool(groups or deletions), bool(deletions)


def damaged(update: bytes) -> bool:
    """Whether ``update`` is a state that yrs encoded after integrating items twice: a skip
    back over clocks it had written, wrapped to about 2**32, that puts everything after it
    out of reach. No real client gets near 2**31 clocks."""
    try:
        parsed = parse(update)
    except MalformedMessage:
        return True
    return any(s[-1].clock + s[-1].length > _WRAPPED for s in parsed.structs.values())


def _integrable_prefixes(structs: dict[int, list[Struct]], have: dict[int, int]) -> dict[int, int]:
    """How many leading structs of each client can be integrated; grows ``have`` to the
    state vector the Doc will hold after them."""
    count = dict.fromkeys(structs, 0)
    progress = True
    while progress:
        progress = False
        for client, group in structs.items():
            while count[client] < len(group):
                struct = group[count[client]]
                at = have.get(client, 0)
                end = struct.clock + struct.length
                if end <= at:
                    pass  # held already: yrs skips it
                elif struct.clock > at or struct.skip:
                    break  # a gap: clocks before it are missing
                elif all(clock < have.get(needed, 0) for needed, clock in struct.needs):
                    have[client] = end
                else:
                    break
                count[client] += 1
                progress = True
    return count


def _without_leading_skips(structs: list[Struct]) -> list[Struct]:
    start = 0
    while start < len(structs) and structs[start].skip:
        start += 1
    return structs[start:]


def _encode(parsed: Parsed) -> bytes | None:
    if not parsed.structs and not parsed.deletions:
        return None
    out = [write_var_uint(len(parsed.structs))]
    for client, structs in parsed.structs.items():
        out += [write_var_uint(len(structs)), write_var_uint(client)]
        out.append(write_var_uint(structs[0].clock))
        out += [s.encoded for s in structs]
    by_client: dict[int, list[tuple[int, int]]] = {}
    for client, clock, length in parsed.deletions:
        by_client.setdefault(client, []).append((clock, length))
    out.append(write_var_uint(len(by_client)))
    for client, ranges in by_client.items():
        out += [write_var_uint(client), write_var_uint(len(ranges))]
        for clock, length in ranges:
            out += [write_var_uint(clock), write_var_uint(length)]
    return b"".join(out)


class Joined:
    """Updates that a Doc integrates at once, one after the other, joined into one update.

    Applying one update instead of many is what makes a log load fast: pycrdt pays a
    transaction and a decoding per ``apply_update``. Only an update whose every struct and
    deletion the Doc (with the updates joined before it) can integrate is taken, so the
    joined update never holds anything yrs would keep pending; ``add`` refuses any other,
    and anything it cannot read quickly, and the caller integrates that one as usual.
    """

    def __init__(self, state: dict[int, int]) -> None:
        self.state = state  # the Doc's state vector once the joined updates are applied
        self.count = 0
        self._structs: dict[int, list[bytes]] = {}
        self._first: dict[int, int] = {}
        self._deletions: dict[int, list[tuple[int, int]]] = {}
        self._next_key: _Keystroke | None = None  # how the last client's next keystroke starts

    def add(self, update: bytes) -> bool:
        """Join ``update`` if it integrates at once after the updates joined so far."""
        key = self._next_key
        if key is not None and update.startswith(key.prefix) and self._add_keystroke(update, key):
            return True
        scanned = _scan(update)
        if scanned is None:
            return False
        groups, deletions = scanned
        have = self.state
        grown: dict[int, int] = {}
        kept: list[tuple[int, int, list[bytes]]] = []
        for client, clock, structs in groups:
            at = first = grown.get(client, have.get(client, 0))
            encoded = []
            for length, needs, struct in structs:
                end = clock + length
                if end > at:
                    if clock != at:
                        return False  # a gap, or part of it held: ``split`` cuts it
                    for needed, needed_clock in needs:
                        if needed_clock >= grown.get(needed, have.get(needed, 0)):
                            return False
                    encoded.append(struct)
                    grown[client] = at = end
                clock = end  # (a struct held already is left out: yrs skips it)
            if encoded:
                kept.append((client, first, encoded))
        for client, clock, length in deletions:
            if clock + length > grown.get(client, have.get(client, 0)):
                return False
        for client, first, encoded in kept:
            self._first.setdefault(client, first)
            self._structs.setdefault(client, []).extend(encoded)
        for client, clock, length in deletions:
            self._deletions.setdefault(client, []).append((clock, length))
        have.update(grown)
        self.count += 1
        if len(grown) == 1:
            [(client, clock)] = grown.items()
            self._next_key = _Keystroke.after(client, clock)
        return True

    def _add_keystroke(self, update: bytes, key: _Keystroke) -> bool:
        """Join ``update``, which starts as ``key`` says, as ``add`` would, reading only its
        text: one string item of the last client's, right after its last character and with
        that character as its origin, and no deletions. A log holds mostly such rows (one
        per keystroke), and this reads one number of each where ``_scan`` reads them all."""
        client, clock, client_bytes, prefix, struct_at = key
        if self.state.get(client) != clock:
            return False  # another update of this client's was joined since
        try:
            byte_count, start = _uint(update, len(prefix))
        except (IndexError, ValueError):  # as ``_scan``: cut short, or a number too large
            return False
        end = start + byte_count
        if not byte_count or end + 1 != len(update) or update[end]:
            return False  # no text, more than one item, or deletions: ``_scan`` reads it
        try:
            length = _utf16_length(update[start:end])
        except UnicodeDecodeError:
            return False
        self._first.setdefault(client, clock)
        self._structs.setdefault(client, []).append(update[struct_at:end])
        self.state[client] = clock + length
        self.count += 1
        self._next_key = _Keystroke.after(client, clock + length, client_bytes)
        return True

    def take(self) -> bytes | None:
        """The joined update (None: nothing to apply), and start afresh."""
        if not self._structs and not self._deletions:
            self.count = 0
            return None
        out = [write_var_uint(len(self._structs))]
        for client, structs in self._structs.items():
            out += [write_var_uint(len(structs)), write_var_uint(client)]
            out += [write_var_uint(self._first[client]), *structs]
        out.append(write_var_uint(len(self._deletions)))
        for client, ranges in self._deletions.items():
            out += [write_var_uint(client), write_var_uint(len(ranges))]
            for clock, length in ranges:
                out += [write_var_uint(clock), write_var_uint(length)]
        self.count = 0
        self._structs, self._first, self._deletions = {}, {}, {}
        return b"".join(out)


class _Keystroke(NamedTuple):
    """How the update of a client's next keystroke starts: one client, one struct at
    ``clock``, a string item (0x84) whose origin is the client's character before it."""

    client: int
    clock: int
    client_bytes: bytes  # the client's number, encoded
    prefix: bytes  # the update's bytes up to its text
    struct_at: int  # where its struct starts

    @classmethod
    def after(cls, client: int, clock: int, client_bytes: bytes | None = None) -> _Keystroke | None:
        if not clock:
            return None  # nothing of this client's to type after
        if client_bytes is None:
            client_bytes = write_var_uint(client)
        header = b"\x01\x01" + client_bytes + _var_uint_bytes(clock)
        prefix = header + b"\x84" + client_bytes + _var_uint_bytes(clock - 1)
        return cls(client, clock, client_bytes, prefix, len(header))


def _utf16_length(text: bytes) -> int:
    """How many clock ticks a string item of these UTF-8 bytes takes: one per UTF-16 code
    unit, as Yjs counts. Raises UnicodeDecodeError for bytes that are not UTF-8."""
    if text.isascii():
        return len(text)
    return len(text.decode("utf-8").encode("utf-16-le")) // 2


def _var_uint_bytes(value: int) -> bytes:
    """``write_var_uint``, without its loop for the clocks of a document under 2M: a twin
    kept on purpose, as the loop cost 0.1 s of a cold load of 100,000 keystroke rows."""
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    if value < 0x200000:
        return bytes((value & 0x7F | 0x80, (value >> 7) & 0x7F | 0x80, value >> 14))
    return write_var_uint(value)


_Scanned = tuple[
    list[tuple[int, int, list[tuple[int, tuple[Id, ...], bytes]]]],  # client, clock, structs
    list[tuple[int, int, int]],  # deletions: client, clock, length
]


def _scan(update: bytes) -> _Scanned | None:
    """What ``parse`` reads, without its objects and method calls, for the updates editors
    send; None when the update is anything else, or not one ``parse`` accepts."""
    try:
        return _scan_or_raise(update)
    except (IndexError, ValueError):  # MalformedMessage and UnicodeDecodeError are too
        return None


def _scan_or_raise(data: bytes) -> _Scanned | None:
    size = len(data)
    groups = []
    seen = set()
    count, pos = _uint(data, 0)
    for _ in range(count):
        structs_count, pos = _uint(data, pos)
        client, pos = _uint(data, pos)
        clock, pos = _uint(data, pos)
        if not structs_count or client in seen:
            return None
        seen.add(client)
        structs = []
        for _ in range(structs_count):
            start = pos
            info = data[pos]
            pos += 1
            kind = info & 0x1F
            needs: tuple[Id, ...] = ()
            if kind == _GC:
                length, pos = _uint(data, pos)
            elif kind == _SKIP:
                return None
            else:
                if info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):
                    if info & _HAS_ORIGIN:
                        origin_client, pos = _uint(data, pos)
                        origin_clock, pos = _uint(data, pos)
                        needs = ((origin_client, origin_clock),)
                    if info & _HAS_RIGHT_ORIGIN:
                        right_client, pos = _uint(data, pos)
                        right_clock, pos = _uint(data, pos)
                        needs = (*needs, (right_client, right_clock))
                else:  # the parent is written out
                    parent_tag, pos = _uint(data, pos)
                    if parent_tag == 1:  # a root type's name
                        name_size, pos = _uint(data, pos)
                        pos += name_size
                    else:  # the parent item
                        parent_client, pos = _uint(data, pos)
                        parent_clock, pos = _uint(data, pos)
                        needs = ((parent_client, parent_clock),)
                    if info & _HAS_PARENT_SUB:
                        key_size, pos = _uint(data, pos)
                        pos += key_size
                    if pos > size:
                        return None
                if kind == 4:  # string: one tick per UTF-16 code unit
                    byte_count, pos = _uint(data, pos)
                    text = data[pos : pos + byte_count]
                    pos += byte_count
                    if pos > size:
                        return None
                    length = _utf16_length(text)
                elif kind == 1:  # deleted
                    length, pos = _uint(data, pos)
                else:
                    reader = _UpdateReader(data)
                    reader.pos = pos
                    length = reader.content_length(kind)
                    pos = reader.pos
            structs.append((length, needs, data[start:pos]))
        groups.append((client, clock, structs))
    deletions = []
    clients, pos = _uint(data, pos)
    for _ in range(clients):
        client, pos = _uint(data, pos)
        ranges, pos = _uint(data, pos)
        for _ in range(ranges):
            clock, pos = _uint(data, pos)
            length, pos = _uint(data, pos)
            if not length:
                return None
            deletions.append((client, clock, length))
    return (groups, deletions) if pos == size else None


def _uint(data: bytes, pos: int) -> tuple[int, int]:
    """A lib0 variable-length unsigned integer at ``pos``, and the position after it."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if value > MAX_VAR_UINT:
            raise MalformedMessage("number out of range")
        if byte < 0x80:
            return value, pos + 1
        shift += 7


def parse(update: bytes) -> Parsed:
    """The structs (per client, with what each points at) and deletions of ``update``."""
    reader = _UpdateReader(update)
    parsed = Parsed()
    for _ in range(reader.var_uint()):
        count, client, clock = reader.var_uint(), reader.var_uint(), reader.var_uint()
        if client in parsed.structs:
            raise MalformedMessage("a client's structs appear twice in one update")
        group = parsed.structs[client] = []
        for _ in range(count):
            start = reader.pos
            length, skip, needs = reader.struct()
            group.append(Struct(clock, length, skip, needs, update[start : reader.pos]))
            clock += length
        if not group:
            del parsed.structs[client]
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        for _ in range(reader.var_uint()):
            clock, length = reader.var_uint(), reader.var_uint()
            parsed.deletions.append((client, clock, length))
    reader.end()
    return parsed


class _UpdateReader(Reader):
    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise MalformedMessage("truncated update")
        self.pos += 1
        return self.data[self.pos - 1]

    def skip(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise MalformedMessage("truncated update")
        self.pos += count

    def id(self) -> Id:
        return self.var_uint(), self.var_uint()

    def struct(self) -> tuple[int, bool, tuple[Id, ...]]:
        """Read one struct: how many clock ticks it spans, whether it is a Skip, and the
        items it points at."""
        info = self.byte()
        kind = info & 0x1F
        if kind in (_GC, _SKIP):
            return self.var_uint(), kind == _SKIP, ()
        needs: list[Id] = []
        if info & _HAS_ORIGIN:
            needs.append(self.id())
        if info & _HAS_RIGHT_ORIGIN:
            needs.append(self.id())
        if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):  # the parent is written out
            if self.var_uint() == 1:
                self.var_bytes()  # a root type's name
            else:
                needs.append(self.id())  # the parent item
            if info & _HAS_PARENT_SUB:
                self.var_bytes()
        return self.content_length(kind), False, tuple(needs)

    def content_length(self, kind: int) -> int:
        if kind == 1:  # deleted
            return self.var_uint()
        if kind in (2, 8):  # JSON strings, lib0 Any values
            count = self.var_uint()
            for _ in range(count):
                self.var_bytes() if kind == 2 else self.any()
            return count
        if kind == 4:  # string: one tick per UTF-16 code unit
            return len(self.var_string().encode("utf-16-le")) // 2
        if kind in (3, 5):  # binary, embed
            self.var_bytes()
        elif kind == 6:  # format: key, value
            self.var_bytes(), self.var_bytes()
        elif kind == 7:  # a shared type
            type_ref = self.var_uint()
            if type_ref > _XML_TEXT:  # yrs knows more (weak links); Yjs cannot decode them
                raise MalformedMessage(f"a shared type Yjs does not know ({type_ref})")
            if type_ref in (_XML_ELEMENT, _XML_HOOK):
                self.var_bytes()  # its name
        elif kind == 9:  # a subdocument: guid, options
            self.var_bytes()
            self.any()
        else:  # yrs knows more (moves); Yjs cannot decode them
            raise MalformedMessage(f"a content kind Yjs does not know ({kind})")
        return 1

    def any(self) -> None:
        """Skip one lib0 ``Any`` value."""
        tag = self.byte()
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:  # signed variable-length integer
            while self.byte() & 0x80:
                pass
        elif tag == 124:
            self.skip(4)
        elif tag in (123, 122):
            self.skip(8)
        elif tag in (119, 116):  # string, bytes
            self.var_bytes()
        elif tag == 118:  # object
            for _ in range(self.var_uint()):
                self.var_bytes()
                self.any()
        elif tag == 117:  # array
            for _ in range(self.var_uint()):
                self.any()
        else:
            raise MalformedMessage(f"unknown value tag {tag}")
