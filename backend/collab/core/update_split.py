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

from pycrdt import write_var_uint

from backend.collab.core.protocol import MalformedMessage, Reader

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


def split(update: bytes, state: dict[int, int]) -> Split:
    """The part of ``update`` a Doc with state vector ``state`` can integrate at once, and
    the rest. Raises ``MalformedMessage`` for bytes that are not a v1 update."""
    parsed = parse(update)
    have = dict(state)
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
    if not waiting.structs and not waiting.deletions:
        return Split(update if ready.structs or ready.deletions else None, None)
    return Split(_encode(ready), _encode(waiting))


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
