"""Positions in a pycrdt text, and the one way to compute them from a Python string.

pycrdt's ``Text`` and ``XmlText`` count positions (``insert``, ``format``, ``len``, deletes) in
UTF-8 bytes: yrs's default ``OffsetKind::Bytes``, which pycrdt 0.14 does not change. Yjs counts
UTF-16 code units and Python's ``len`` counts code points; the three agree only on ASCII. An
index computed with ``len`` lands beside the wrong character as soon as the text holds "é",
"漢" or "🚀", and one inside a character is worse: yrs moves an insert past it, and a format or
delete that starts there reaches the end of the text. Every server-side edit computes its
positions here.
"""

from __future__ import annotations


def text_length(text: str) -> int:
    """The length of ``text`` in the units of a pycrdt text position (UTF-8 bytes)."""
    return len(text.encode("utf-8"))
