"""How far a Yjs update (v1 encoding, the only one y-websocket speaks) reaches: per client,
the end of the highest clock range that its items or its deletions touch.

yrs integrates what an update carries only once everything it builds on is present, and
keeps the rest pending without a word (no event, no change to the state vector, nothing in
``get_update``). The room compares an update's reach with its Doc's state vector after
applying it: reach beyond the state vector means yrs holds part of it pending, so the log
must keep it. ``pycrdt.get_state`` cannot tell this: it ignores a client whose items do not
start at clock 0, and it says nothing of deletions.

The layout read here is lib0's: struct groups (items, GC and Skip runs with their contents),
then the delete set.
"""

from __future__ import annotations

from backend.collab.protocol import MalformedMessage, Reader

_GC, _SKIP = 0, 10
_HAS_ORIGIN, _HAS_RIGHT_ORIGIN, _HAS_PARENT_SUB = 0x80, 0x40, 0x20
_XML_ELEMENT, _XML_HOOK = 3, 5


def reach(update: bytes) -> dict[int, int]:
    """Client -> end (exclusive) of the highest clock the update's items or deletions touch.

    Raises ``MalformedMessage`` for bytes that are not a v1 update.
    """
    reader = _UpdateReader(update)
    ends: dict[int, int] = {}
    for _ in range(reader.var_uint()):
        structs, client, clock = reader.var_uint(), reader.var_uint(), reader.var_uint()
        for _ in range(structs):
            clock += reader.struct_length()
        ends[client] = max(ends.get(client, 0), clock)
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        for _ in range(reader.var_uint()):
            clock, length = reader.var_uint(), reader.var_uint()
            ends[client] = max(ends.get(client, 0), clock + length)
    reader.end()
    return ends


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

    def struct_length(self) -> int:
        """Read one struct; returns how many clock ticks it spans."""
        info = self.byte()
        kind = info & 0x1F
        if kind in (_GC, _SKIP):
            return self.var_uint()
        if info & _HAS_ORIGIN:
            self.var_uint(), self.var_uint()
        if info & _HAS_RIGHT_ORIGIN:
            self.var_uint(), self.var_uint()
        if not info & (_HAS_ORIGIN | _HAS_RIGHT_ORIGIN):  # the parent is written out
            if self.var_uint() == 1:
                self.var_bytes()  # a root type's name
            else:
                self.var_uint(), self.var_uint()  # the parent item's id
            if info & _HAS_PARENT_SUB:
                self.var_bytes()
        return self.content_length(kind)

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
            if self.var_uint() in (_XML_ELEMENT, _XML_HOOK):
                self.var_bytes()  # its name
        elif kind == 9:  # a subdocument: guid, options
            self.var_bytes()
            self.any()
        else:
            raise MalformedMessage(f"unknown content kind {kind}")
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
