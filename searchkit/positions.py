"""How a posting stores a term's positions in a passage: ``CompactPositions``, the format of the schema's text
fields (Whoosh's ``Positions``, in fewer bytes)."""

from __future__ import annotations

import sys
from array import array
from itertools import accumulate

from whoosh.formats import Positions

__all__ = ["CompactPositions"]

_WIDE = 0xFF
"""The first byte of a value whose gaps do not all fit a byte below it (never a gap of a narrow value)."""


class CompactPositions(Positions):
    """Whoosh's ``Positions`` (frequency, weight, positions, boosts of 1) with each posting's positions stored as
    the gaps between them: one byte each when every gap is below 255 (a passage's words are a few hundred at
    most), else a 255 byte and each gap as 4 bytes (little-endian). Whoosh's own encoding pickles the gaps
    after a 4-byte count: 13 bytes for a word that occurs once, where this takes 1. Readers need nothing but
    this class (the schema, pickled in the index, names it)."""

    def encode(self, poslist) -> bytes:
        gaps = [b - a for a, b in zip((0, *poslist), poslist)]
        if max(gaps, default=0) < _WIDE:
            return bytes(gaps)
        wide = array("I", gaps)
        if sys.byteorder == "big":
            wide.byteswap()
        return bytes((_WIDE,)) + wide.tobytes()

    def decode_positions(self, valuestring: bytes) -> list[int]:
        if valuestring[:1] != b"\xff":
            return list(accumulate(valuestring))
        wide = array("I")
        wide.frombytes(valuestring[1:])
        if sys.byteorder == "big":
            wide.byteswap()
        return list(accumulate(wide))

    def decode_frequency(self, valuestring: bytes) -> int:
        return len(valuestring) if valuestring[:1] != b"\xff" else (len(valuestring) - 1) // 4
