"""The stored fields' column format: each passage's pickled stored fields, zlib-compressed together with its
neighbours' in blocks, each block against a dictionary of the column's first values (the words and field names
every block repeats); ``storedfields`` keeps a segment's stored fields in it. It imports nothing of Whoosh (it has
the interface of Whoosh's columns, ``whoosh.columns.Column``, without its base classes), so that the one-shot query
path (``direct``) reads a hit's stored fields without Whoosh's codec or columns.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterator

from .errors import IndexCorrupt

__all__ = ["BlockColumn", "BLOCK_BYTES", "STORED_FIELDS"]

STORED_FIELDS = "_stored"
"""The column W3 keeps a segment's stored fields in (``storedfields`` keeps them in a ``BlockColumn``)."""

BLOCK_BYTES = 8 * 1024
"""Values are compressed together until a block holds this many bytes: about 8 passages. Reading a hit
decompresses its block: 16 KB blocks are 8% smaller again and take twice as long to read one passage from
(``benchmarks/versions.py`` measures both). Only the writer depends on it."""
DICTIONARY_BYTES = 16 * 1024
"""The dictionary every block is compressed against (zlib's preset dictionary): the column's first values, this
many bytes of them. On the generated corpus the stored fields are a sixth smaller than blocks compressed alone
(39.7 → 33.1 MB at 100k passages, by ``benchmarks/latency.py``'s sizes by kind, before and after); compressing
a block costs more, reading one the same. Only the writer depends on it."""
DICTIONARY_FROM_BYTES = 4 * DICTIONARY_BYTES
"""A column of fewer bytes of values has no dictionary (it would not save what it takes)."""
_LEVEL = 6
_TRAILER = 16
"""The column ends with the size of its (compressed) dictionary and its number of blocks (8 bytes each,
little-endian)."""


class BlockColumn:
    """Variable-length byte strings, zlib-compressed in blocks of about ``BLOCK_BYTES`` against a dictionary;
    after the blocks, the dictionary (itself compressed; none in a small column), each document's value length
    (uint32), each block's first document (uint32) and each block's start and the end of the last (uint64),
    then the trailer. A document without a value reads as ``b""``."""

    reversible = False
    _default = b""

    def writer(self, dbfile) -> BlockColumn.Writer:
        return self.Writer(dbfile)

    def reader(self, dbfile, basepos: int, length: int, doccount: int) -> BlockColumn.Reader:
        return self.Reader(dbfile, basepos, length, doccount)

    def default_value(self, reverse: bool = False) -> bytes:
        return self._default

    def stores_lists(self) -> bool:
        return False

    class Writer:
        def __init__(self, dbfile) -> None:
            self._dbfile = dbfile
            self._lengths = array("I")
            self._firsts = array("I")
            self._starts = array("Q")
            self._pending: list[bytes] = []
            self._pending_bytes = 0
            self._held: list[list[bytes]] | None = []
            """The first blocks' values, held until there are enough to take a dictionary from (then None)."""
            self._held_bytes = 0
            self._dictionary = b""
            self._compressor = zlib.compressobj(_LEVEL)
            """Primed with the dictionary: each block's compressor is a copy."""
            self._written = 0

        def add(self, docnum: int, value: bytes) -> None:
            if len(self._lengths) < docnum:
                self._lengths.extend(bytes(4 * (docnum - len(self._lengths))))
            if not self._pending:
                self._firsts.append(len(self._lengths))
            self._lengths.append(len(value))
            self._pending.append(value)
            self._pending_bytes += len(value)
            if self._pending_bytes >= BLOCK_BYTES:
                self._block()

        def _block(self) -> None:
            values, self._pending, self._pending_bytes = self._pending, [], 0
            if self._held is None:
                self._emit(values)
                return
            self._held.append(values)
            self._held_bytes += sum(map(len, values))
            if self._held_bytes >= DICTIONARY_FROM_BYTES:
                self._release(b"".join(b"".join(held) for held in self._held)[:DICTIONARY_BYTES])

        def _release(self, dictionary: bytes) -> None:
            """Take ``dictionary`` (maybe none) and write the blocks held until then."""
            held, self._held, self._dictionary = self._held or [], None, dictionary
            if dictionary:
                self._compressor = zlib.compressobj(_LEVEL, zdict=dictionary)
            for values in held:
                self._emit(values)

        def _emit(self, values: list[bytes]) -> None:
            compressor = self._compressor.copy()
            block = compressor.compress(b"".join(values)) + compressor.flush()
            self._starts.append(self._written)
            self._dbfile.write(block)
            self._written += len(block)

        def finish(self, doccount: int) -> None:
            if self._pending:
                self._block()
            if self._held is not None:
                self._release(b"")
            lengths = self._lengths
            if len(lengths) < doccount:
                lengths.extend(bytes(4 * (doccount - len(lengths))))
            self._starts.append(self._written)
            dictionary = zlib.compress(self._dictionary, 9) if self._dictionary else b""
            self._dbfile.write(dictionary)
            for table in (lengths, self._firsts, self._starts):
                self._dbfile.write(_little(table).tobytes())
            self._dbfile.write(len(dictionary).to_bytes(8, "little") + len(self._firsts).to_bytes(8, "little"))

    class Reader:
        def __init__(self, dbfile, basepos: int, length: int, doccount: int) -> None:
            self._dbfile = dbfile
            self._basepos = basepos
            self._length = length
            self._doccount = doccount
            self._tables: tuple[array, array, array] | None = None
            self._dictionary = b""
            self._cached: tuple[int, bytes] = (-1, b"")
            """The last block read: its number and its values."""

        def _read_tables(self) -> tuple[array, array, array]:
            dbfile, base, length, doccount = self._dbfile, self._basepos, self._length, self._doccount
            trailer = dbfile.get(base + length - _TRAILER, _TRAILER) if length >= _TRAILER else b""
            dictionary_size = int.from_bytes(trailer[:8], "little") if trailer else -1
            blocks = int.from_bytes(trailer[8:], "little") if trailer else -1
            table_bytes = 4 * doccount + 4 * blocks + 8 * (blocks + 1)
            if blocks < 0 or table_bytes + dictionary_size + _TRAILER > length:
                raise IndexCorrupt("a stored fields column whose table does not fit it (damaged or crafted)")
            at = base + length - _TRAILER - table_bytes
            if dictionary_size:
                self._dictionary = _inflate(dbfile.get(at - dictionary_size, dictionary_size), DICTIONARY_BYTES,
                                            exact=False, what="dictionary")
            tables = []
            for code, count in (("I", doccount), ("I", blocks), ("Q", blocks + 1)):
                table = array(code)
                table.frombytes(dbfile.get(at, table.itemsize * count))
                tables.append(_little(table))
                at += table.itemsize * count
            # A crafted table can only misplace values: each block decompresses to at most the bytes its
            # documents' lengths sum to, and what it holds is unpickled by ``safepickle``'s checked loader.
            self._tables = tables[0], tables[1], tables[2]
            return self._tables

        def __getitem__(self, docnum: int) -> bytes:
            lengths, firsts, starts = self._tables or self._read_tables()
            if not 0 <= docnum < self._doccount:
                raise IndexError(f"document {docnum} of {self._doccount}")
            size = lengths[docnum]
            if not size:
                return b""
            block = bisect_right(firsts, docnum) - 1
            if block < 0:
                raise IndexCorrupt("a stored fields column whose table does not fit it (damaged or crafted)")
            first = firsts[block]
            number, values = self._cached
            if number != block:
                end = firsts[block + 1] if block + 1 < len(firsts) else self._doccount
                data = self._dbfile.get(self._basepos + starts[block], max(0, starts[block + 1] - starts[block]))
                values = _inflate(data, sum(lengths[first:end]), exact=True, what="block", zdict=self._dictionary)
                self._cached = (block, values)
            at = sum(lengths[first:docnum])
            return values[at:at + size]

        def __len__(self) -> int:
            return self._doccount

        def __iter__(self) -> Iterator[bytes]:
            return (self[docnum] for docnum in range(self._doccount))

        def sort_key(self, docnum: int) -> bytes:
            return self[docnum]

        def load(self) -> list[bytes]:
            return list(self)

        def set_reverse(self) -> None:
            raise NotImplementedError("a stored fields column has no reverse order")


def _inflate(data: bytes, expected: int, *, exact: bool, what: str, zdict: bytes = b"") -> bytes:
    """``data`` decompressed: ``expected`` bytes (``exact``), or at most that many.

    Raises:
        IndexCorrupt: it does not decompress so (damaged or crafted); at most one byte more than ``expected`` is
            ever decompressed, so a crafted block cannot expand beyond it, and an intact one ends within it (its
            checksum then verified).
    """
    stream = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
    try:
        values = stream.decompress(data, expected + 1)
    except zlib.error:
        values = None
    if values is None or not stream.eof or len(values) > expected or exact and len(values) != expected:
        raise IndexCorrupt(f"a stored fields {what} that does not decompress to its passages (damaged or crafted)")
    return values


def _little(table: array) -> array:
    """``table`` in little-endian byte order (the column's, on any machine)."""
    if array("I", [1]).tobytes()[0] != 1:
        table.byteswap()
    return table
