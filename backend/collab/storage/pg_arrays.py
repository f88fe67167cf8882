"""Lists that psycopg sends as one PostgreSQL array type each, in binary: the parameters of
the statements Tandem prepares (``pg_append``, ``pg_admission``).

Given a plain list, psycopg looks at its elements to choose the array's type: it sized an
integer array by its largest value (``smallint[]`` until an author's id passed 32,767, then
``integer[]``), and could not type an empty list or one of ``None`` alone. Each type it chose
was a prepared statement of its own, parsed and planned at its first use on each connection
(the append's: 0.2-0.4 ms more than a call prepared already, once per connection).
Typed here, a statement has one set of parameter types, and dumping is cheaper: the append's
parameters for one / ten writes took 36 / 83 us of the event loop to dump as plain lists,
19 / 29 us typed, 12 / 21 us typed on a cursor that is run again (as ``pg_loop`` ran them
before ``pg_wire``).

The dumpers are registered with psycopg's global adapters as this module is imported, and a
connection copies those as it opens: ``CollabConfig.ready`` imports it before Django opens
any (a connection opened earlier would dump these as plain lists).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import postgres
from psycopg.pq import Format


class Int4Array(list[int]):
    """An ``integer[]``."""


class Int8Array(list[int | None]):
    """A ``bigint[]`` (``None``: NULL)."""


class UuidArray(list[uuid.UUID]):
    """A ``uuid[]``."""


class ByteaArray(list[bytes]):
    """A ``bytea[]``."""


class TextArray(list[str]):
    """A ``text[]``."""


def _register(array: type[list[Any]], element: str) -> None:
    oid = postgres.types[element].array_oid
    psycopg.adapters.register_dumper(array, psycopg.adapters.get_dumper_by_oid(oid, Format.BINARY))


for _array, _element in (
    (Int4Array, "int4"),
    (Int8Array, "int8"),
    (UuidArray, "uuid"),
    (ByteaArray, "bytea"),
    (TextArray, "text"),
):
    _register(_array, _element)
